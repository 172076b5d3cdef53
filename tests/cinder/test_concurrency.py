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

"""Many operations at once through one VolumeManager: concurrent first attaches of different
volumes and of one volume, and a mixed run of 200 operations on 8 workers. Each ends with no
failure, no volume with two backings and nothing new left behind on vCenter (orphans)."""

import random

import pytest

from tests import vcenter
from tests.cinder import racing
from tests.cinder.helpers import NOVA_CONNECTOR, vm_to_attach

BACKEND = 'vc1'


@pytest.fixture
def vc1(cinder):
    """vc1's manager, an instance to attach to, and vCenter's orphans before the test."""
    manager = cinder.managers[BACKEND]
    client = vcenter.of(manager.driver).client
    before = racing.orphans_now(client, cinder.context)
    instance, _ = vm_to_attach(manager.driver)
    yield manager, dict(NOVA_CONNECTOR, instance=instance)
    assert racing.duplicate_backings(client) == {}
    assert racing.orphans_now(client, cinder.context) - before == set()


def _delete_all(cinder, manager, volumes):
    run = racing.race(lambda v: manager.delete_volume(cinder.context, v), volumes, 8)
    assert run.failures == []


def test_32_concurrent_first_attaches_of_different_volumes(cinder, vc1, vcenters):
    manager, connector = vc1
    volumes = [cinder.create_volume(BACKEND) for _ in range(32)]
    vcenters[BACKEND].reset_stats()

    run = racing.race(lambda v: manager.initialize_connection(cinder.context, v, connector),
                      volumes, 32)
    print(run.figures('32 first attaches'))

    assert run.failures == []
    refs = [info['data']['volume'] for info in run.results]
    assert len(set(refs)) == 32
    assert vcenters[BACKEND].stats().calls['CreateVM_Task'] == 32
    _delete_all(cinder, manager, volumes)


def test_8_concurrent_first_attaches_of_one_volume(cinder, vc1, vcenters):
    manager, connector = vc1
    volume = cinder.create_volume(BACKEND)
    vcenters[BACKEND].reset_stats()

    run = racing.race(lambda _: manager.initialize_connection(cinder.context, volume,
                                                              connector), range(8), 8)
    print(run.figures('8 first attaches of one volume'))

    assert run.failures == []
    assert len({info['data']['volume'] for info in run.results}) == 1
    assert vcenters[BACKEND].stats().calls['CreateVM_Task'] == 1
    _delete_all(cinder, manager, [volume])


class Story:
    """One worker's share of the mixed run: random operations on its own volumes and
    snapshots (Cinder's API would refuse most cross-worker conflicts, e.g. deleting a
    volume being cloned), all on one vCenter, project, folder tree and placement."""

    OPERATIONS = ('create', 'attach', 'clone', 'snapshot', 'from_snapshot', 'extend',
                  'delete_snapshot', 'delete')

    def __init__(self, cinder, connector, seed: int):
        self.cinder, self.connector = cinder, connector
        self.manager = cinder.managers[BACKEND]
        self.random = random.Random(seed)
        self.volumes, self.snapshots = [], []

    def run(self, count: int) -> list[str]:
        failures = []
        for _ in range(count):
            operation = self._pick()
            try:
                getattr(self, operation)()
            except Exception as error:       # noqa: BLE001 - counted, reported
                failures.append('%s: %s: %s' % (operation, type(error).__name__, error))
        return failures

    def _pick(self) -> str:
        if not self.volumes:
            return 'create'
        return self.random.choice(self.OPERATIONS)

    def _available(self, volume):
        volume.refresh()
        assert volume.status == 'available', volume.status
        self.volumes.append(volume)

    def create(self):
        self._available(self.cinder.create_volume(BACKEND))

    def attach(self):
        volume = self.random.choice(self.volumes)
        self.manager.initialize_connection(self.cinder.context, volume, self.connector)

    def clone(self):
        source = self.random.choice(self.volumes)
        self._from(source.size, source_volid=source.id)

    def from_snapshot(self):
        if self.snapshots:
            snapshot = self.random.choice(self.snapshots)
            self._from(snapshot.volume_size, snapshot_id=snapshot.id)

    def _from(self, size_gb: int, **source):
        """A volume of its source's size, as Cinder's API makes it when none is given."""
        volume = self.cinder.new_volume(BACKEND, size_gb, **source)
        self.manager.create_volume(self.cinder.context, volume)
        self._available(volume)

    def snapshot(self):
        snapshot = self.cinder.create_snapshot(BACKEND, self.random.choice(self.volumes))
        assert snapshot.status == 'available', snapshot.status
        self.snapshots.append(snapshot)

    def extend(self):
        volume = self.random.choice(self.volumes)
        self.manager.driver.extend_volume(volume, volume.size + 1)
        volume.size += 1
        volume.save()

    def delete_snapshot(self):
        if self.snapshots:
            snapshot = self.snapshots.pop(self.random.randrange(len(self.snapshots)))
            self.manager.delete_snapshot(self.cinder.context, snapshot)

    def delete(self):
        parents = {s.volume_id for s in self.snapshots}
        free = [v for v in self.volumes if v.id not in parents]
        if free:
            volume = self.random.choice(free)
            self.volumes.remove(volume)
            self.manager.delete_volume(self.cinder.context, volume)

    def clean_up(self):
        for snapshot in self.snapshots:
            self.manager.delete_snapshot(self.cinder.context, snapshot)
        for volume in self.volumes:
            self.manager.delete_volume(self.cinder.context, volume)


def test_mixed_run_of_200_operations_on_8_workers(cinder, vc1):
    _, connector = vc1
    stories = [Story(cinder, connector, seed) for seed in range(8)]

    run = racing.race(lambda story: story.run(25), stories, 8)
    print('mixed run: 200 ops in %.2f s on the simulator, %.1f ops/s'
          % (run.seconds, 200 / run.seconds))

    assert run.failures == []
    assert [failure for failures in run.results for failure in failures] == []
    cleanup = racing.race(Story.clean_up, stories, 8)
    assert cleanup.failures == []
