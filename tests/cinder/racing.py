#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""What the concurrency and active-active tests share: running operations on worker threads
and checking vCenter afterwards for duplicate backings and orphans."""

import collections
import concurrent.futures
import dataclasses
import time

from vmdk_volume.cmd import orphans
from vmdk_volume.vsphere import properties


@dataclasses.dataclass
class Run:
    """What a concurrent run returned and how long it took."""

    results: list
    failures: list[str]
    seconds: float

    def figures(self, what: str) -> str:
        return '%s: %d ops in %.2f s on the simulator, %.1f ops/s' % (
            what, len(self.results), self.seconds, len(self.results) / self.seconds)


def race(operation, items, workers: int) -> Run:
    """``operation(item)`` for every item on ``workers`` threads; failures as text."""
    def guarded(item):
        try:
            return operation(item), None
        except Exception as error:      # noqa: BLE001 - every failure is reported
            return None, '%r: %s: %s' % (item, type(error).__name__, error)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(guarded, items))
    return Run([result for result, _ in done], [error for _, error in done if error],
               time.monotonic() - started)


def duplicate_backings(client) -> dict[str, int]:
    """instanceUuids carried by more than one VM (one property read)."""
    view = properties.container_view(client, client.content.rootFolder, ['VirtualMachine'])
    try:
        items = properties.collect(client, view, {'VirtualMachine': ['config.instanceUuid']})
    finally:
        client.call('DestroyView', view)
    counts = collections.Counter(item.get('config.instanceUuid') for item in items)
    return {uuid: count for uuid, count in counts.items() if count > 1}


def owned_ids(context) -> frozenset[str]:
    """Every volume and snapshot id in Cinder's database."""
    from cinder import objects
    volumes = objects.VolumeList.get_all(context)
    snapshots = objects.SnapshotList.get_all(context, filters={})
    return frozenset(v.id for v in volumes) | frozenset(s.id for s in snapshots)


def orphans_now(client, context) -> set[orphans.Orphan]:
    """What ``vmdk-volume orphans`` reports, but the image cache (kept on purpose)."""
    return {orphan for orphan in orphans.find(client, owned_ids(context))
            if orphan.kind is not orphans.Kind.CACHE}
