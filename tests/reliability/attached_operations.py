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

"""The driver's operations on a volume that Nova's own code attached to a powered-on
instance (whose disk vSphere then locks), as ``test_attached_faults`` runs them through
Cinder's VolumeManager: each one the driver does through the instance or in place. The
shapes are the fault matrix's (``operations.Operation``); ``run`` leaves the volume's status
as Cinder's API (or the backup manager) would around the manager's call, ``verify`` checks
the bytes of what succeeded against ``RAW``, the data the case wrote into the disk."""

import dataclasses
import pathlib
import subprocess

from cinder import exception, objects
from cinder.compute import nova as _nova_api  # noqa: F401 - registers Cinder's [nova] options
from cinder.volume import volume_types
from oslo_config import cfg
from vmdk_volume_simkit.harness.cinder import PROJECT_ID, USER_ID

from tests import vcenter
from tests.cinder.helpers import RAW, disk_file
from tests.cinder.nova_attach import Attached, GiB, disks, volume_disk
from tests.reliability.operations import Case, Operation

POLICY = 'vSAN Default Storage Policy'


@dataclasses.dataclass
class AttachedCase(Case):
    """A ``Case`` whose ``volume`` Nova attached (``attached``)."""

    attached: Attached | None = None
    asked: str | None = None        # the volume type a retype asked for

    @property
    def client(self):
        return vcenter.of(self.manager.driver).client

    def set_status(self, status: str) -> None:
        """The volume's status as Cinder's API leaves it for the manager (from in-use)."""
        self.volume.update({'status': status, 'previous_status': 'in-use'})
        self.volume.save()


def holds_raw(case: AttachedCase, vmdk: pathlib.Path) -> bool:
    """Whether a VMDK file starts with ``RAW`` (converted to raw by qemu-img)."""
    back = case.tmp / ('%s.raw' % vmdk.name)
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw', str(vmdk), str(back)],
                   check=True)
    with back.open('rb') as data:
        return data.read(len(RAW)) == RAW


def instance_disk(case: AttachedCase):
    """The volume's disk as the instance has it (None if the instance lost it)."""
    return volume_disk(case.client, case.attached.instance.ref, case.volume.id)


def _vm_holds_raw(case: AttachedCase, ref: str) -> None:
    """VM ``ref`` has one disk, holding ``RAW``."""
    [disk] = disks(case.client, ref)
    assert holds_raw(case, disk_file(case.client, disk)), 'the bytes differ'


def _backing_holds_raw(case: AttachedCase, volume) -> None:
    _vm_holds_raw(case, vcenter.of(case.manager.driver).backings.find(volume.id))


# -- the runs ------------------------------------------------------------------------------

def _snapshot(case: AttachedCase) -> None:
    snapshot = objects.Snapshot(context=case.context, volume_id=case.volume.id,
                                volume_size=case.volume.size, status='creating',
                                project_id=PROJECT_ID, user_id=USER_ID,
                                volume_type_id=case.volume.volume_type_id)
    snapshot.create()
    case.result.append(snapshot)
    case.manager.create_snapshot(case.context, snapshot)


def _snapshot_holds_raw(case: AttachedCase) -> None:
    snapshot = case.result[-1]
    snapshot.refresh()
    _vm_holds_raw(case, snapshot.provider_location.split(':', 1)[1])


def _clone(case: AttachedCase) -> None:
    volume = case.cinder.new_volume(case.backend, source_volid=case.volume.id)
    case.result.append(volume)
    case.manager.create_volume(case.context, volume, allow_reschedule=False)


def _upload(case: AttachedCase) -> None:
    """Cinder's ``upload-to-image --force`` of the in-use volume."""
    case.set_status('uploading')
    case.result.append(case.volume)
    upload = case.cinder.images.create_empty()
    case.image_id = upload['id']
    case.manager.copy_volume_to_image(case.context, case.volume.id, dict(upload))


def _image_holds_raw(case: AttachedCase) -> None:
    assert holds_raw(case, case.cinder.images.path(case.image_id)), 'the bytes differ'


def _backup_device(case: AttachedCase) -> None:
    """cinder-backup's ``get_backup_device`` of the in-use volume (``--force``): a temporary
    volume cloned from it. The volume's status is restored afterwards, as the backup
    manager does once the backup ended or failed."""
    case.set_status('backing-up')
    backup = objects.Backup(context=case.context, volume_id=case.volume.id,
                            status='creating', user_id=USER_ID, project_id=PROJECT_ID)
    backup.create()
    try:
        device = case.manager.get_backup_device(case.context, backup, want_objects=True)
    finally:
        case.set_status('in-use')
    case.result.append(device.device_obj)


def _extend(case: AttachedCase) -> None:
    """Online extend by 1 GiB of what Cinder records; Cinder then tells Nova's API, which
    is not reachable here (it records that it could not)."""
    case.set_status('extending')
    case.result.append(case.volume)
    cfg.CONF.set_override('token_auth_url', 'http://127.0.0.1:9/identity', group='nova')
    try:
        case.manager.extend_volume(case.context, case.volume, case.volume.size + 1, None)
    finally:
        cfg.CONF.clear_override('token_auth_url', group='nova')


def _extended(case: AttachedCase) -> None:
    case.volume.refresh()
    assert instance_disk(case).capacityInKB == case.volume.size * GiB // 1024
    assert holds_raw(case, disk_file(case.client, instance_disk(case)))


def _retype(case: AttachedCase) -> None:
    """Retype in place: to a storage policy the volume's datastore satisfies, or back to
    no policy if it has that one already (each retype reconfigures the backing's disk)."""
    current = volume_types.get_volume_type(case.context, case.volume.volume_type_id)['name']
    name, specs = ('plain-%s' % case.volume.id, {}) if current.startswith('policy-') else (
        'policy-%s' % case.volume.id, {'vmware:storage_profile': POLICY})
    try:            # made by an earlier retype of the volume
        vtype = volume_types.get_volume_type_by_name(case.context, name)
    except exception.VolumeTypeNotFoundByName:
        vtype = case.cinder.volume_type(name, specs)
    case.asked = name
    case.set_status('retyping')
    case.result.append(case.volume)
    host = {'host': 'cinder@%s#%s' % (case.backend, case.backend),
            'capabilities': case.manager.driver.get_volume_stats()}
    case.manager.retype(case.context, case.volume, vtype['id'], host,
                        migration_policy='never')


def _retyped(case: AttachedCase) -> None:
    case.volume.refresh()
    assert volume_types.get_volume_type(
        case.context, case.volume.volume_type_id)['name'] == case.asked
    assert holds_raw(case, disk_file(case.client, instance_disk(case)))


ATTACHED_OPERATIONS = [
    Operation('snapshot (template)', 'CloneVM_Task', _snapshot, verify=_snapshot_holds_raw),
    Operation('clone', 'CloneVM_Task', _clone,
              verify=lambda c: _backing_holds_raw(c, c.result[-1])),
    Operation('upload (forced)', 'CloneVM_Task', _upload, verify=_image_holds_raw),
    Operation('upload (forced) export', 'ExportVm', _upload, transfer='nfc-download',
              verify=_image_holds_raw),
    Operation('backup device', 'CloneVM_Task', _backup_device,
              verify=lambda c: _backing_holds_raw(c, c.result[-1])),
    Operation('extend (online)', 'ReconfigVM_Task', _extend, verify=_extended),
    Operation('retype (in place)', 'ReconfigVM_Task', _retype, verify=_retyped),
]
