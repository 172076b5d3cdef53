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

"""Soak: memory and handles of a driver running thousands of mixed operations stay flat.

    python -m tools.bench.soak [--ops 3000] [--threads 8] [--json PATH]

The driver is built as cinder-volume builds it (``bench.Bench``) on the simulator's small
inventory, and 8 threads run Cinder's calls into it, each thread a volume's life at a time
(``CYCLE``): create, first attach, extend, snapshot, clone, volume from the snapshot, a
volume from an image (``clone_image`` from the datastore cache, else
``copy_image_to_volume``, as Cinder's create flow calls them; a few images rotate through
a cache of two, so cache hits, fills and evictions all happen), detach and the deletes
(each followed by Cinder's removal of the volume's or snapshot's lock files). The
operations run in batches; between batches, with no operation in flight and after a full
garbage collection, the process's RSS (``VmRSS``), Python objects (``gc.get_objects``),
threads, open file descriptors, the vCenter sessions (``SessionManager.sessionList``, read
through an admin session of its own), the property collectors and filters alive on the
simulator and the lock files in Cinder's file coordination directory are sampled. After
the warm-up (the first samples: connection pools filled, caches and the inventory loaded)
each quantity's least-squares slope per operation is checked against ``LIMITS``: handles
must not grow at all, objects and RSS less than a small bound. The exit status is 1 if a
limit is exceeded or an operation failed.
"""

import argparse
import collections
import concurrent.futures
import dataclasses
import gc
import itertools
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc

from vmdk_volume_simkit import Simulator

from tools.bench import bench as vbench
from tools.bench.verdict import Sample, verdict
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import properties
from vmdk_volume.vsphere import session as vsession

IMAGES = 3          # rotating through a cache of CACHE_COUNT templates
CACHE_COUNT = 2
KiB = 1024


class SoakBench(vbench.Bench):
    """The bench's driver, with an image cache of ``CACHE_COUNT`` templates."""

    def new_driver(self):
        from oslo_config import cfg
        driver = super().new_driver()
        cfg.CONF.set_override('vmware_image_cache_max_count', CACHE_COUNT, group=self.group)
        return driver


class Soak:
    """The workload: a Bench's driver, the images, and the operation counters."""

    def __init__(self, bench: SoakBench, image_mib: int):
        self.bench = bench
        self.images = [bench.glance.add(bench.image_file(image_mib), 'vmdk',
                                        vmware_disktype='streamOptimized')
                       for _ in range(IMAGES)]
        self._rotation = itertools.count()
        self._lock = threading.Lock()
        self.ops = 0
        self.errors: collections.Counter = collections.Counter()
        self.first_errors: list[str] = []

    def run_cycle(self) -> None:
        """One volume's life (``CYCLE``), each step one Cinder call counted as an op."""
        state: dict = {}
        for name, step in CYCLE:
            try:
                step(self, state)
            except Exception as error:      # recorded and reported: the soak fails
                with self._lock:
                    self.errors[name] += 1
                    if len(self.first_errors) < 5:
                        self.first_errors.append('%s: %r' % (name, error))
            with self._lock:
                self.ops += 1

    def next_image(self) -> str:
        return self.images[next(self._rotation) % IMAGES]

    # -- Cinder's calls ------------------------------------------------------------------

    def create(self, state: dict, key: str, size_gb: int = 1):
        volume = state[key] = self.bench.volume(size_gb, clean_up=False)
        volume.update(self.bench.driver.create_volume(volume) or {})
        return volume

    def snapshot(self, volume):
        from cinder import objects
        from oslo_utils import uuidutils
        snapshot = objects.Snapshot(context=self.bench.context, id=uuidutils.generate_uuid(),
                                    volume=volume, volume_id=volume.id,
                                    volume_size=volume.size, display_description='soak',
                                    provider_location=None)
        snapshot.update(self.bench.driver.create_snapshot(snapshot) or {})
        return snapshot

    def from_image(self, volume) -> None:
        """Cinder's create flow: the driver's clone_image first, else the import."""
        bench, image_id = self.bench, self.next_image()
        meta = bench.glance.show(bench.context, image_id)
        update, cloned = bench.driver.clone_image(
            bench.context, volume, bench.glance.get_location(bench.context, image_id), meta,
            bench.glance)
        if not cloned:
            update = bench.driver.copy_image_to_volume(bench.context, volume, bench.glance,
                                                       image_id)
        volume.update(update or {})

    def detach(self, volume) -> None:
        connector = dict(vbench.CONNECTOR, instance=self.bench.instance)
        self.bench.driver.terminate_connection(volume, connector)
        self.bench.driver.remove_export(self.bench.context, volume)


def _extend(soak: Soak, state: dict) -> None:
    soak.bench.driver.extend_volume(state['volume'], 2)
    state['volume'].size = 2


def _clone(soak: Soak, state: dict) -> None:
    clone = soak.bench.volume(state['volume'].size, clean_up=False)
    state['clone'] = clone
    clone.update(soak.bench.driver.create_cloned_volume(clone, state['volume']) or {})


def _from_snapshot(soak: Soak, state: dict) -> None:
    volume = soak.bench.volume(state['snapshot'].volume_size, clean_up=False)
    state['restored'] = volume
    volume.update(soak.bench.driver.create_volume_from_snapshot(volume, state['snapshot'])
                  or {})


def _from_image(soak: Soak, state: dict) -> None:
    soak.from_image(soak.create(state, 'imaged'))


def _delete(key: str):
    """VolumeManager.delete_volume's calls: the driver's, then the volume's lock files."""
    def delete(soak: Soak, state: dict) -> None:
        from cinder import utils
        volume = state.pop(key)
        soak.bench.driver.delete_volume(volume)
        utils.clean_volume_file_locks(volume.id, soak.bench.driver)
    return delete


def _delete_snapshot(soak: Soak, state: dict) -> None:
    from cinder import utils
    snapshot = state.pop('snapshot')
    soak.bench.driver.delete_snapshot(snapshot)
    utils.clean_snapshot_file_locks(snapshot.id, soak.bench.driver)


CYCLE = [
    ('create', lambda soak, state: soak.create(state, 'volume')),
    ('first attach', lambda soak, state: soak.bench.attach(state['volume'])),
    ('extend', _extend),
    ('snapshot', lambda soak, state: state.update(snapshot=soak.snapshot(state['volume']))),
    ('clone', _clone),
    ('volume from snapshot', _from_snapshot),
    ('image to volume', _from_image),
    ('detach', lambda soak, state: soak.detach(state['volume'])),
    ('delete snapshot', _delete_snapshot),
    ('delete clone', _delete('clone')),
    ('delete volume from snapshot', _delete('restored')),
    ('delete volume from image', _delete('imaged')),
    ('delete volume', _delete('volume')),
]


class Probe:
    """Samples the process and the simulator between batches (see the module docstring)."""

    def __init__(self, vc: Simulator):
        self.vc = vc
        self.admin = vclient.Client.connect(vsession.Endpoint(
            host=vc.host, port=vc.port, username='admin', password='secret',
            ca_file=vc.ca_file))
        self.started = time.monotonic()

    def sample(self, ops: int) -> Sample:
        gc.collect()
        sessions = properties.fetch_one(self.admin, self.admin.content.sessionManager,
                                        ['sessionList']).get('sessionList')
        collectors = self.vc.collectors()
        return Sample(ops=ops, seconds=round(time.monotonic() - self.started, 1),
                      rss_kib=_rss_kib(), objects=len(gc.get_objects()),
                      threads=threading.active_count(), fds=len(os.listdir('/proc/self/fd')),
                      sessions=len(getattr(sessions, 'UserSession', None) or []),
                      collectors=collectors['collectors'], filters=collectors['filters'],
                      lock_files=len(os.listdir(_lock_dir())))

    def close(self) -> None:
        self.admin.close()


def _lock_dir() -> str:
    """The directory of Cinder's file coordination backend (``configure_cinder``)."""
    from oslo_config import cfg
    return cfg.CONF.coordination.backend_url.removeprefix('file://')


def _rss_kib() -> int:
    with open('/proc/self/status') as status:
        return next(int(line.split()[1]) for line in status if line.startswith('VmRSS:'))


def type_counts() -> collections.Counter:
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def run(ops: int, threads: int, batches: int, warm_up: int, image_mib: int,
        trace: bool = False) -> dict:
    """Run ``ops`` operations in ``batches`` on ``threads``; the samples and the verdict
    on those after the first ``warm_up`` batches."""
    cycles = -(-ops // len(CYCLE))
    per_batch = -(-cycles // batches)
    with Simulator(vbench.MODELS['small']) as vc:
        bench = SoakBench(vc, 'soak')
        bench.ready()
        probe = Probe(vc)
        soak = Soak(bench, image_mib)
        samples, grown = [], None
        try:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                for batch in range(batches):
                    todo = min(per_batch, cycles - batch * per_batch)
                    list(pool.map(lambda _: soak.run_cycle(), range(todo)))
                    samples.append(probe.sample(soak.ops))
                    print('%s' % (samples[-1],), flush=True)
                    if batch + 1 == warm_up:
                        grown = type_counts()
                        if trace:
                            tracemalloc.start(10)
            grown = type_counts() - grown
            sites = _top_sites() if trace else []
        finally:
            probe.close()
            bench.close()
    measured = samples[warm_up - 1:]
    return {'ops': soak.ops, 'threads': threads, 'cycle': [name for name, _ in CYCLE],
            'errors': dict(soak.errors), 'first_errors': soak.first_errors,
            'samples': [dataclasses.asdict(s) for s in samples], 'warm_up_batches': warm_up,
            'verdict': verdict(measured), 'types_grown': grown.most_common(10),
            'allocation_sites': sites}


def _top_sites() -> list[str]:
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return [str(stat) for stat in snapshot.statistics('traceback')[:5]]


def report(result: dict) -> str:
    samples, verdicts = result['samples'], result['verdict']
    first, last = samples[result['warm_up_batches'] - 1], samples[-1]
    lines = ['%d ops on %d threads in %.0f s (warm-up: %d ops), errors: %s' % (
        result['ops'], result['threads'], last['seconds'], first['ops'],
        result['errors'] or 'none'), *result['first_errors'],
        '%-11s %10s %10s %12s %8s  %s' % ('quantity', 'after w-u', 'end', 'slope/op',
                                           'limit', '')]
    for field, v in verdicts.items():
        lines.append('%-11s %10d %10d %12.4f %8s  %s' % (
            field, first[field], last[field], v['per_op'], v['limit'],
            'flat' if v['flat'] else 'GROWS'))
    lines.append('types grown after warm-up: %s' % ', '.join(
        '%s +%d' % item for item in result['types_grown']))
    return '\n'.join(lines + result['allocation_sites'])


def passed(result: dict) -> bool:
    return not result['errors'] and all(v['flat'] for v in result['verdict'].values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench.soak',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--ops', type=int, default=3000)
    parser.add_argument('--threads', type=int, default=8)
    parser.add_argument('--batches', type=int, default=12, help='samples taken')
    parser.add_argument('--warm-up', type=int, default=5,
                        help='batches before measuring (RSS settles after ~1,300 ops)')
    parser.add_argument('--image-mib', type=int, default=1)
    parser.add_argument('--tracemalloc', action='store_true',
                        help='also show where the memory allocated after warm-up is held')
    parser.add_argument('--json', metavar='PATH', help='also write the results here')
    args = parser.parse_args(argv)
    if not 1 <= args.warm_up <= args.batches - 2:
        parser.error('--warm-up must leave at least 3 samples to measure')
    with tempfile.TemporaryDirectory(prefix='vmdk-soak-') as workdir:
        vbench.configure_cinder(workdir)
        result = run(args.ops, args.threads, args.batches, args.warm_up, args.image_mib,
                     args.tracemalloc)
    print(report(result))
    if args.json:
        with open(args.json, 'w') as out:
            json.dump(result | {'passed': passed(result)}, out, indent=2)
    return 0 if passed(result) else 1


if __name__ == '__main__':
    sys.exit(main())
