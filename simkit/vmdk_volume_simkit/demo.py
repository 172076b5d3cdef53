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

"""``vmdk-volume demo``: a volume's lifecycle through Cinder's own VolumeManager on two local
simulated vCenters, one line per step as it goes, then a summary.

Two simulators start (``vc1`` keeps snapshots as templates, ``vc2`` as VM snapshots), a
two-backend cinder.conf is written in a temporary directory and each backend's driver is
loaded by a VolumeManager (``cinder_harness``). On each backend: volume types, create (nothing
on vCenter yet), attach to a simulator VM (the backing appears), image to volume (a qcow2 made
with qemu-img), clone, snapshot, volume from snapshot, extend, retype, upload to image,
detach, delete. A step whose driver method is not implemented is reported as such, apart
from failures; the exit code is 1 only if a step failed.
"""

import dataclasses
import enum
import logging
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

from vmdk_volume.core import folders
from vmdk_volume.units import GiB
from vmdk_volume.vsphere import inventory, properties
from vmdk_volume.vsphere.vm import VirtualMachine
from vmdk_volume_simkit import ModelSize, Simulator
from vmdk_volume_simkit.harness import cinder as cinder_harness

BACKENDS = {'vc1': ({}, ModelSize(hosts=2, datastores=3)),
            'vc2': ({'vmware_snapshot_format': 'COW'}, ModelSize(clusters=2, hosts=1))}


class Outcome(enum.StrEnum):
    OK = 'ok'
    NOT_IMPLEMENTED = 'not implemented'
    FAILED = 'FAILED'


@dataclasses.dataclass(frozen=True)
class StepResult:
    step: str
    backend: str
    outcome: Outcome
    seconds: float
    calls: int
    detail: str


class NotImplementedStep(Exception):
    """The driver leaves this operation to Cinder's generic code, or raised
    NotImplementedError."""


class StepFailed(Exception):
    """The operation ended in a state it should not (Cinder keeps some errors as states)."""


def _implemented(driver, method: str) -> bool:
    """Whether our driver, not Cinder's base classes, defines ``method``."""
    for cls in type(driver).__mro__:
        if method in vars(cls):
            return not cls.__module__.startswith('cinder.')
    return False


def _not_implemented(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, (NotImplementedError, NotImplementedStep)):
            return True
        error = error.__cause__ or error.__context__
    return False


class Walk:
    """One backend's lifecycle: steps in order, each timed and counted on its simulator."""

    def __init__(self, cinder: cinder_harness.Cinder, backend: str, vc: Simulator,
                 image: pathlib.Path, report: Callable[[StepResult], None]):
        self.cinder, self.backend, self.vc, self.image = cinder, backend, vc, image
        self.manager = cinder.managers[backend]
        self.driver = self.manager.driver
        self.report = report
        self.volumes: list = []
        self.snapshots: list = []
        self.types: dict = {}
        self.connector: dict = {}

    @property
    def client(self):
        return self.driver._backend.client

    def step(self, name: str, action: Callable[[], object],
             show: Callable[[object], str] = lambda result: '') -> bool:
        """Run ``action``, then ``show`` its result (uncounted); report it. False if it
        failed."""
        self.vc.reset_stats()
        start = time.perf_counter()
        try:
            result = action()
            seconds, calls = time.perf_counter() - start, self.vc.stats().total
            outcome, detail = Outcome.OK, show(result)
        except Exception as error:  # noqa: BLE001 - every failure is reported as the step's
            seconds, calls = time.perf_counter() - start, self.vc.stats().total
            outcome = Outcome.NOT_IMPLEMENTED if _not_implemented(error) else Outcome.FAILED
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.report(StepResult(name, self.backend, outcome, seconds, calls, detail))
        return outcome is not Outcome.FAILED

    def run(self) -> None:
        steps = [('volume types', self.make_types, self.show_types),
                 ('create', self.create, self.show_lazy),
                 ('attach', self.attach, self.show_backing),
                 ('image to volume', self.from_image, self.show_volume),
                 ('clone', self.clone, self.show_volume),
                 ('snapshot', self.snapshot, self.show_snapshot),
                 ('volume from snapshot', self.from_snapshot, self.show_volume),
                 ('extend', self.extend, self.show_size),
                 ('retype', self.retype, lambda v: 'now of type %s' % v.volume_type.name),
                 ('upload to image', self.upload, lambda meta: 'image %s, %d bytes, %s' % (
                     meta['id'][:8], meta['size'], meta.get('disk_format'))),
                 ('detach', self.detach, lambda _: 'the backing stays, detached')]
        for name, action, show in steps:
            if not self.step(name, action, show):
                break
        self.step('delete', self.delete, self.show_deleted)

    # -- steps -----------------------------------------------------------------------------

    def make_types(self) -> dict[str, dict]:
        specs = {'thin': {'vmware:vmdk_type': 'thin'},
                 'thick': {'vmware:vmdk_type': 'thick', 'vmware:adapter_type': 'paraVirtual'}}
        for name, extra_specs in specs.items():
            self.types[name] = self.cinder.volume_type(
                '%s-%s' % (self.backend, name),
                dict(extra_specs, volume_backend_name=self.backend))
        return specs

    def show_types(self, specs: dict[str, dict]) -> str:
        return '; '.join('%s-%s: %s' % (self.backend, name, ', '.join(
            '%s=%s' % item for item in extra_specs.items()))
            for name, extra_specs in specs.items())

    def _create(self, **fields):
        volume = self.cinder.create_volume(self.backend, volume_type=self.types['thin'],
                                           **fields)
        self.volumes.append(volume)
        if volume.status != 'available':
            raise StepFailed('volume %s is %s' % (volume.id, volume.status))
        return volume

    def create(self):
        return self._create()

    def attach(self):
        volume = self.volumes[0]
        self.connector = {'host': 'compute-1', 'ip': '10.0.0.5', 'initiator': None,
                          'instance': _an_instance(self.client)}
        self.manager.initialize_connection(self.cinder.context, volume, self.connector)
        volume.refresh()
        return volume

    def from_image(self):
        if not _implemented(self.driver, 'copy_image_to_volume'):
            raise NotImplementedStep('the driver has no copy_image_to_volume yet')
        image_id = self.cinder.images.add(self.image, disk_format='qcow2',
                                          container_format='bare', name='demo.qcow2')
        return self._create(image_id=image_id)

    def clone(self):
        return self._create(source_volid=self.volumes[0].id)

    def snapshot(self):
        snapshot = self.cinder.create_snapshot(self.backend, self._clone())
        self.snapshots.append(snapshot)
        if snapshot.status != 'available':
            raise StepFailed('snapshot %s is %s' % (snapshot.id, snapshot.status))
        return snapshot

    def from_snapshot(self):
        return self._create(snapshot_id=self.snapshots[0].id)

    def extend(self):
        volume = self._clone()
        volume.update({'status': 'extending'})
        volume.save()
        self.manager.extend_volume(self.cinder.context, volume, 2, None)
        volume.refresh()
        if volume.status != 'available' or volume.size != 2:
            raise StepFailed('volume %s is %s, %d GiB' % (volume.id, volume.status,
                                                          volume.size))
        return volume

    def retype(self):
        if not _implemented(self.driver, 'retype'):
            raise NotImplementedStep('the driver has no retype yet')
        volume = self.volumes[-1]   # from the snapshot: no snapshots, so its adapter may change
        volume.update({'status': 'retyping', 'previous_status': 'available'})
        volume.save()
        self.manager.retype(self.cinder.context, volume, self.types['thick']['id'],
                            {'host': volume.host, 'capabilities': {}})
        volume.refresh()
        if volume.volume_type_id != self.types['thick']['id']:
            raise StepFailed('volume %s kept its type (status %s)' % (volume.id,
                                                                     volume.status))
        return volume

    def upload(self):
        if not _implemented(self.driver, 'copy_volume_to_image'):
            raise NotImplementedStep('the driver has no copy_volume_to_image yet')
        image_id = self.cinder.images.add(disk_format='vmdk', container_format='bare',
                                          name='demo-upload')
        meta = self.cinder.images.show(None, image_id)
        self.manager.copy_volume_to_image(self.cinder.context, self._clone().id, meta)
        return self.cinder.images.show(None, image_id)

    def detach(self):
        self.manager.terminate_connection(self.cinder.context, self.volumes[0].id,
                                          self.connector)

    def delete(self) -> tuple[int, int]:
        context = self.cinder.context
        for snapshot in self.snapshots:
            self.manager.delete_snapshot(context, snapshot)
        for volume in reversed(self.volumes):
            volume.refresh()
            self.manager.delete_volume(context, volume)
        return len(self.volumes), len(self.snapshots)

    def _clone(self):
        return self.volumes[-1] if len(self.volumes) == 2 else next(
            v for v in self.volumes if v.source_volid)

    # -- what each step shows --------------------------------------------------------------

    def show_lazy(self, volume) -> str:
        found = self.driver._backings.find(volume.id)
        return 'volume %s, %d GiB: %s' % (volume.id[:8], volume.size, 'nothing on vCenter yet'
                                          if found is None else 'backing %s' % found)

    def show_backing(self, volume) -> str:
        backings = self.driver._backings
        ref = backings.find(volume.id)
        props = VirtualMachine(self.client, ref).read(['name', 'parent', 'runtime.host'])
        host = properties.fetch_one(self.client, props['runtime.host'], ['name'])['name']
        backing = backings.describe(ref)
        return '%s in %s on %s, host %s' % (props['name'], _folder_path(
            self.client, props['parent']), backing.datastore_name, host)

    def show_volume(self, volume) -> str:
        ref = self.driver._backings.find(volume.id)
        if ref is None:
            return 'volume %s: no backing (its source had none)' % volume.id[:8]
        return 'volume %s: backing on %s' % (
            volume.id[:8], self.driver._backings.describe(ref).datastore_name)

    def show_snapshot(self, snapshot) -> str:
        kind, _, ref = (snapshot.provider_location or '').partition(':')
        if kind != 'template':
            return 'snapshot %s: VM snapshot %s of the backing' % (snapshot.id[:8], ref)
        props = VirtualMachine(self.client, ref).read(['name', 'parent'])
        return 'snapshot %s: template %s in %s' % (snapshot.id[:8], props['name'],
                                                   _folder_path(self.client, props['parent']))

    def show_deleted(self, counts: tuple[int, int]) -> str:
        left = [v.id for v in self.volumes if self.driver._backings.find(v.id)]
        if left:
            raise StepFailed('backings of %s are still on vCenter' % ', '.join(left))
        return '%d volumes, %d snapshot(s); no backing left' % counts

    def show_size(self, volume) -> str:
        backings = self.driver._backings
        disk = backings.describe(backings.find(volume.id))
        return 'volume %s: disk %d GiB (%s)' % (volume.id[:8], disk.size_bytes // GiB,
                                                disk.vmdk_path)


def _an_instance(client) -> str:
    items = inventory.virtual_machines(client, ['name', 'config.template'])
    return min((i.get('name'), i.value) for i in items if not i.get('config.template')
               and not i.get('name').startswith(('volume-', 'snapshot-')))[1]


def _folder_path(client, folder) -> str:
    names = []
    while folder._type == 'Folder':
        props = properties.fetch_one(client, folder, ['name', 'parent'])
        names.append(props['name'])
        folder = props['parent']
    path = '/'.join(reversed(names[:-1]))     # below the datacenter's "vm" folder
    return path if path.startswith(folders.ROOT_FOLDER) else path or '/'


# -- the command ---------------------------------------------------------------------------

def _print_line(result: StepResult) -> None:
    print('%-21s %-4s %-16s %6.2f s %4d calls  %s' % (
        result.step, result.backend, result.outcome, result.seconds, result.calls,
        result.detail), flush=True)


def summary(results: list[StepResult]) -> str:
    """A table: one row per step, one column per backend (outcome, seconds, calls)."""
    backends = list(dict.fromkeys(r.backend for r in results))
    cells = {(r.step, r.backend): '%s %.2f s %d' % (r.outcome, r.seconds, r.calls)
             for r in results}
    lines = ['%-21s ' % 'step' + ''.join('%-32s' % b for b in backends)]
    for step in dict.fromkeys(r.step for r in results):
        lines.append('%-21s ' % step + ''.join('%-32s' % cells.get((step, b), '-')
                                               for b in backends))
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    lines.append('%d ok, %d not implemented (yet), %d failed' % (
        counts[Outcome.OK], counts[Outcome.NOT_IMPLEMENTED], counts[Outcome.FAILED]))
    return '\n'.join(lines)


def _make_image(workdir: pathlib.Path) -> pathlib.Path:
    path = workdir / 'demo.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(path), '64M'], check=True)
    return path


def _how_to_connect(vcenters: dict[str, Simulator], conf: pathlib.Path) -> str:
    lines = ['', 'The simulators keep running (any username and password). cinder.conf: %s'
             % conf]
    for name, vc in vcenters.items():
        lines += ['', '%s: %s' % (name, vc.url),
                  '  govc:     GOVC_URL=https://admin:secret@%s:%d/sdk GOVC_TLS_CA_CERTS=%s '
                  'govc ls /DC0/vm/OpenStack' % (vc.host, vc.port, vc.ca_file),
                  '  pyVmomi:  from pyVim.connect import SmartConnect; import ssl; '
                  'si = SmartConnect(host=%r, port=%d, user="admin", pwd="secret", sslContext=ssl.'
                  'create_default_context(cafile=%r))' % (vc.host, vc.port, vc.ca_file),
                  '  calls:    %s/_sim/stats' % vc.base_url]
    return '\n'.join(lines + ['', 'Press Ctrl-C to stop them.'])


def run(keep: bool = False, debug: bool = False) -> int:
    """The demo; 0 unless a step failed."""
    logging.getLogger('cinder').setLevel(logging.DEBUG if debug else logging.CRITICAL)
    warnings.filterwarnings('ignore', module='alembic')   # Cinder's schema, not ours
    workdir = pathlib.Path(tempfile.mkdtemp(prefix='vmdk-demo-'))
    vcenters: dict[str, Simulator] = {}
    try:
        print('Starting 2 simulated vCenters (the first run builds the simulator: about a '
              'minute) ...', flush=True)
        for name, (_, model) in BACKENDS.items():
            vcenters[name] = Simulator(model).start()
        print("Loading the driver through Cinder's VolumeManager (%s) ..."
              % (workdir / 'cinder.conf'), flush=True)
        cinder = cinder_harness.Cinder(workdir, vcenters,
                                       {n: opts for n, (opts, _) in BACKENDS.items()})
        results: list[StepResult] = []
        image = _make_image(workdir)
        print('\n%-21s %-4s %-16s %8s %10s  %s' % ('step', '', 'result', 'time', 'SOAP',
                                                  'detail'))

        def report(result: StepResult) -> None:
            results.append(result)
            _print_line(result)
        for name, vc in vcenters.items():
            Walk(cinder, name, vc, image, report).run()
        cinder.stop()
        print('\n' + summary(results))
        if keep:
            stops = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stops)     # until sigwait takes them
            print(_how_to_connect(vcenters, cinder.conf_file), flush=True)
            signal.sigwait(stops)
        return 1 if any(r.outcome is Outcome.FAILED for r in results) else 0
    finally:
        for vc in vcenters.values():
            vc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(run())
