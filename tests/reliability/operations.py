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

"""The driver's operations as the fault matrix runs them, through Cinder's VolumeManager.

Each ``Operation`` prepares what it needs (``setup``, without faults), then does the one
thing under test (``run``) and returns the Cinder objects whose status tells the outcome;
``fault_on`` names the SOAP method (or NFC transfer) its faults are placed on, and ``verify``
checks the bytes of what succeeded. After each case, fault or crash, ``clean_up`` deletes
what it made and ``left_behind`` lists what no Cinder object owns.
"""

import contextlib
import dataclasses
import os
import pathlib
import signal
import subprocess
from collections.abc import Callable, Iterator

from cinder import exception, objects
from cinder.volume import volume_types
from vmdk_volume_simkit.faults import Fault
from vmdk_volume_simkit.harness.cinder import PROJECT_ID

from tests import vcenter
from vmdk_volume.cmd import orphans
from vmdk_volume.vsphere import properties

MiB = 1024 ** 2
HANG_S = 90      # an operation that runs longer hangs
CONNECTOR = {'host': 'compute-1', 'ip': '10.0.0.5', 'initiator': None}


@dataclasses.dataclass
class Case:
    """What one run of an operation works with."""

    cinder: object
    backend: str
    tmp: pathlib.Path
    volume: object = None
    snapshot: object = None
    raw: pathlib.Path | None = None
    image_id: str | None = None
    unmanaged: str | None = None                              # a VM left for manage
    result: list = dataclasses.field(default_factory=list)   # objects the run made

    @property
    def manager(self):
        return self.cinder.managers[self.backend]

    @property
    def context(self):
        return self.cinder.context


@dataclasses.dataclass(frozen=True)
class Operation:
    name: str
    fault_on: str
    run: Callable[[Case], None]
    setup: Callable[[Case], None] = lambda case: None
    backend: str = 'vc'
    transfer: str | None = None          # the NFC transfer its CUT_TRANSFER fault cuts
    verify: Callable[[Case], None] = lambda case: None


def attach(case: Case, volume) -> None:
    client = vcenter.of(case.manager.driver).client
    view = properties.container_view(client, client.content.rootFolder, ['VirtualMachine'])
    try:
        instance = next(item.value for item in properties.collect(
            client, view, {'VirtualMachine': ['name', 'config.template']})
            if not item.get('config.template') and not item.get('name').startswith(
                ('volume-', 'snapshot-', 'image-', 'tmp-')))
    finally:
        client.call('DestroyView', view)
    case.manager.initialize_connection(case.context, volume, dict(CONNECTOR, instance=instance))


def _backed_volume(case: Case) -> None:
    case.volume = case.cinder.create_volume(case.backend)
    attach(case, case.volume)


def _image(case: Case) -> None:
    case.raw = case.tmp / 'disk.raw'
    case.raw.write_bytes(os.urandom(2 * MiB))
    qcow2 = case.tmp / 'disk.qcow2'
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', str(case.raw),
                    str(qcow2)], check=True)
    case.image_id = case.cinder.images.add(qcow2, 'qcow2')


def _volume_from_image(case: Case) -> None:
    volume = case.cinder.new_volume(case.backend)
    case.result.append(volume)
    case.manager.create_volume(case.context, volume,
                               request_spec=objects.RequestSpec(image_id=case.image_id),
                               allow_reschedule=False)


def _to_image(case: Case, volume) -> pathlib.Path:
    upload = case.cinder.images.create_empty()
    case.manager.copy_volume_to_image(case.context, volume.id, dict(upload))
    back = case.tmp / ('%s.raw' % upload['id'])
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(case.cinder.images.path(upload['id'])), str(back)], check=True)
    return back


def _same_bytes(case: Case, back: pathlib.Path) -> None:
    assert back.read_bytes()[:2 * MiB] == case.raw.read_bytes(), 'the bytes differ'


# -- the runs ------------------------------------------------------------------------------

def _create_attach(case: Case) -> None:
    volume = case.cinder.create_volume(case.backend)
    case.result.append(volume)
    attach(case, volume)


def _clone(case: Case, **source) -> None:
    volume = case.cinder.new_volume(case.backend, **source)
    case.result.append(volume)
    case.manager.create_volume(case.context, volume, allow_reschedule=False)


def _snapshot(case: Case) -> None:
    snapshot = objects.Snapshot(context=case.context, volume_id=case.volume.id,
                                volume_size=case.volume.size, status='creating',
                                project_id=PROJECT_ID, user_id='u')
    snapshot.create()
    case.result.append(snapshot)
    case.manager.create_snapshot(case.context, snapshot)


def _one_vm_snapshot(case: Case) -> None:
    """The backing holds the one VM snapshot taken, no twin."""
    view = vcenter.of(case.manager.driver)
    vm = view.client.ref('VirtualMachine', view.find(case.volume.id))
    info = properties.fetch_one(view.client, vm, ['snapshot']).get('snapshot')
    names = [tree.name for tree in properties.snapshot_trees(info)]
    assert len(names) == 1, 'VM snapshots of the backing: %s' % names


def _setup_snapshot(case: Case) -> None:
    _backed_volume(case)
    case.snapshot = case.cinder.create_snapshot(case.backend, case.volume)


def _retype(case: Case) -> None:
    name = 'thick-%s' % case.volume.id
    try:            # made already if this is the retype again (after a crash)
        thick = volume_types.get_volume_type_by_name(case.context, name)
    except exception.VolumeTypeNotFoundByName:
        thick = case.cinder.volume_type(name, {'vmware:vmdk_type': 'thick'})
    case.volume.status, case.volume.previous_status = 'retyping', case.volume.status
    case.volume.save()
    case.result.append(case.volume)
    host = {'host': 'cinder@%s#%s' % (case.backend, case.backend),
            'capabilities': case.manager.driver.get_volume_stats()}
    case.manager.retype(case.context, case.volume, thick['id'], host,
                        migration_policy='never')


def _setup_unmanaged(case: Case) -> None:
    _backed_volume(case)
    case.manager.delete_volume(case.context, case.volume, unmanage_only=True)
    case.unmanaged = case.volume.provider_location


def _manage(case: Case) -> None:
    volume = objects.Volume(context=case.context, size=0, status='managing',
                            attach_status='detached', host='cinder@vc#vc',
                            project_id=PROJECT_ID, user_id='u', availability_zone='nova')
    volume.create()
    case.result.append(volume)
    case.manager.manage_existing(case.context, volume,
                                 {'source-id': case.volume.provider_location})


def _delete(case: Case) -> None:
    case.result.append(case.volume)
    case.manager.delete_volume(case.context, case.volume)


def _extend(case: Case) -> None:
    case.result.append(case.volume)
    case.manager.extend_volume(case.context, case.volume, 2, None)


def _export(case: Case) -> None:
    case.result.append(case.volume)
    _same_bytes(case, _to_image(case, case.volume))


def _setup_image_volume(case: Case) -> None:
    _image(case)
    _volume_from_image(case)
    case.volume = case.result.pop()


def clean_up(case: Case) -> None:
    """Delete what the case made, as a user would (error states included), and the VM it
    unmanaged if no volume took it."""
    manager = case.manager
    made = [case.snapshot, case.volume] + case.result
    for snapshot in [s for s in made if isinstance(s, objects.Snapshot)]:
        if refresh(snapshot):
            manager.delete_snapshot(case.context, snapshot)
    volumes = {v.id: v for v in made if isinstance(v, objects.Volume)}
    for volume in volumes.values():
        if refresh(volume):
            volume.status = 'available'
            manager.delete_volume(case.context, volume)
    if case.unmanaged:
        orphans.delete(vcenter.of(manager.driver).client, orphans.Orphan(
            orphans.Kind.BACKING, '', case.unmanaged, ''))


def refresh(item) -> bool:
    """Re-read ``item``; False if it is deleted."""
    try:
        item.refresh()
    except exception.NotFound:
        return False
    return not item.deleted


def clear_leftovers(cinder, client) -> None:
    """Fail if anything is left that no Cinder object owns (``left_behind``), once it is
    deleted through ``client`` so that the next cases start clean."""
    leftovers = left_behind(cinder)
    for orphan in leftovers:
        orphans.delete(client, orphan)
    assert not leftovers, 'left behind: %s' % leftovers


def left_behind(cinder) -> list[orphans.Orphan]:
    """What no volume or snapshot owns, but for the image cache's entries of images that
    exist (the cache keeps them on purpose)."""
    found = orphans.find(vcenter.of(cinder.managers['vc'].driver).client, _owned(cinder))
    return [o for o in found if not (o.kind is orphans.Kind.CACHE and cinder.images.path(
        o.name.removeprefix('image-')).exists())]


def _owned(cinder) -> frozenset[str]:
    context = cinder.context
    volumes = objects.VolumeList.get_all(context, filters={'deleted': False})
    snapshots = objects.SnapshotList.get_all(context, filters={'deleted': False})
    return frozenset([v.id for v in volumes] + [v.name_id for v in volumes]
                     + [s.id for s in snapshots])


OPERATIONS = [
    Operation('create+attach', 'CreateVM_Task', _create_attach),
    Operation('delete', 'Destroy_Task', _delete, setup=_backed_volume),
    Operation('clone', 'CloneVM_Task', lambda c: _clone(c, source_volid=c.volume.id),
              setup=_backed_volume),
    Operation('snapshot (template)', 'CloneVM_Task', _snapshot, setup=_backed_volume),
    Operation('snapshot (COW)', 'CreateSnapshot_Task', _snapshot, setup=_backed_volume,
              backend='cow', verify=_one_vm_snapshot),
    Operation('volume from snapshot', 'CloneVM_Task',
              lambda c: _clone(c, snapshot_id=c.snapshot.id), setup=_setup_snapshot),
    Operation('extend', 'ExtendVirtualDisk_Task', _extend, setup=_backed_volume),
    Operation('retype', 'RelocateVM_Task', _retype, setup=_backed_volume),
    Operation('image to volume', 'ImportVApp', _volume_from_image, setup=_image,
              transfer='nfc-upload',
              verify=lambda c: _same_bytes(c, _to_image(c, c.result[0]))),
    Operation('volume to image', 'ExportVm', _export, setup=_setup_image_volume,
              transfer='nfc-download'),
    Operation('manage', 'ReconfigVM_Task', _manage, setup=_setup_unmanaged),
]


def run_bounded(op: Operation, case: Case) -> BaseException | None:
    """Run the operation (in the main thread: Cinder's image code needs eventlet's hub);
    its exception, or an AssertionError if it did not end in time."""
    def give_up(*args):
        raise AssertionError('%s hung for %d s' % (op.name, HANG_S))
    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(HANG_S)
    try:
        op.run(case)
    except BaseException as error:  # noqa: BLE001 - judged by outcome
        return error
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return None


@contextlib.contextmanager
def under_fault(op: Operation, case: Case, fault: Fault, proxy, record,
                row: str) -> Iterator[str]:
    """Run ``op`` with ``fault`` armed on ``proxy`` (``run_bounded``), read whether it
    fired, disarm it; give the outcome (``outcome_of``) to the block that judges it, then
    record it in the matrix at ``row`` and the fault's kind ('FAILED' if the block failed)."""
    proxy.arm(fault)
    try:
        error = run_bounded(op, case)
        fired = proxy.fired
    finally:
        proxy.arm(None)
    outcome = outcome_of(case, error, fired)
    try:
        yield outcome
    except BaseException:
        outcome = 'FAILED'
        raise
    finally:
        record(row, str(fault.kind), outcome)


def outcome_of(case: Case, error: BaseException | None, fired: bool) -> str:
    """'ok after retry', 'error' (a Cinder exception or error status), 'not reached' (the
    fault never fired), or 'FAILED: ...'."""
    failed = [item for item in case.result if refresh(item) and 'error' in item.status]
    if isinstance(error, AssertionError) or (
            error is not None and not isinstance(error, exception.CinderException)):
        return 'FAILED: %s' % type(error).__name__
    if error is not None or failed:
        return 'error'
    return 'ok after retry' if fired else 'not reached'
