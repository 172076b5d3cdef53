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

"""Spec builders: the vim25 data objects the driver sends, built in one place.

A backing is a "shadow" VM that exists only to hold a volume's disk: 1 vCPU, 128 MB, guest
``otherGuest``, one controller and one VirtualDisk. Identity goes into the create spec itself
(``instanceUuid``, the disk's UUID, extraConfig, ``managedBy``), so no reconfigure follows.

The extraConfig marks say what a VM of ours is (``*_marks`` below). vCenter's CloneVM copies
the source's extraConfig, so every clone and reconfigure spec giving a VM its identity sets
that VM's marks and removes every other mark of ``MARKS`` (a key set to ""): a volume cloned
from an image-cache template must not be taken for the template.
"""

import dataclasses
import datetime
from collections.abc import Mapping

from vmdk_volume.units import KiB
from vmdk_volume.vsphere.disks import AdapterType, DiskType

EXTENSION_KEY = 'org.openstack.storage'
VOLUME_ID_KEY = 'cinder.volume.id'
IMAGE_ID_KEY = 'cinder.image.id'
CHECKSUM_KEY = 'cinder.image.checksum'
IMPORT_KEY = 'cinder.image.import'
MARKS = (VOLUME_ID_KEY, IMAGE_ID_KEY, CHECKSUM_KEY, IMPORT_KEY)    # every mark we set
EXTENSION_TYPE = 'volume'
# extraConfig keys Nova's vmwareapi gives an instance: its uuid (``nvp.vm-uuid``, by which
# Nova lists its instances), its ports (``nvp.iface-id.<n>``), its volumes (``volume-<id>``)
NOVA_OPTION_PREFIXES = ('nvp.', 'volume-')
HARDWARE_VERSION = 'vmx-08'     # every ESXi since 5.0 runs it: backings can move anywhere
_CONTROLLER_KEY = -100
_IDE_CONTROLLER_KEY = 200       # the IDE controller every VM gets by default


def volume_marks(volume_id: str) -> dict[str, str]:
    """The marks of a volume's backing, of a template snapshot (``volume_id`` is then the
    snapshot's id) and of a ``-retyped`` copy (its name tells it apart)."""
    return {VOLUME_ID_KEY: volume_id}


def image_marks(image_id: str, checksum: str) -> dict[str, str]:
    """The marks of an image-cache template (and of the import that becomes one)."""
    return {IMAGE_ID_KEY: image_id, CHECKSUM_KEY: checksum}


def import_marks(volume_id: str) -> dict[str, str]:
    """The marks of the VM an image is imported into for the existing backing of
    ``volume_id`` (its disk is copied over, then the VM destroyed)."""
    return {IMPORT_KEY: volume_id}


def mark_options(client, marks: Mapping[str, str], unset: tuple[str, ...] = ()) -> list:
    """extraConfig options setting ``marks`` and removing every other mark of ``MARKS``
    (and the options ``unset``)."""
    cleared = {key: '' for key in (*MARKS, *unset) if key not in marks}
    return [client.create('OptionValue', key=key, value=value)
            for key, value in {**marks, **cleared}.items()]


def nova_option_keys(options: Mapping[str, str]) -> tuple[str, ...]:
    """The keys of ``options`` (a VM's extraConfig) that Nova set (``NOVA_OPTION_PREFIXES``)."""
    return tuple(key for key in options if key.startswith(NOVA_OPTION_PREFIXES))


@dataclasses.dataclass(frozen=True)
class DiskSpec:
    """The one disk of a backing."""

    size_bytes: int
    disk_type: DiskType = DiskType.THIN
    adapter_type: AdapterType = AdapterType.LSI_LOGIC
    uuid: str | None = None          # the disk's UUID (the volume id)


def backing_config(client, *, name: str, datastore_name: str, disk: DiskSpec,
                   instance_uuid: str | None = None,
                   extra_config: Mapping[str, str] | None = None,
                   profile_id: str | None = None):
    """A VirtualMachineConfigSpec creating a backing with one new disk on ``datastore_name``."""
    spec = client.create(
        'VirtualMachineConfigSpec', name=name, guestId='otherGuest', numCPUs=1, memoryMB=128,
        version=HARDWARE_VERSION,
        files=client.create('VirtualMachineFileInfo', vmPathName='[%s]' % datastore_name),
        managedBy=client.create('ManagedByInfo', extensionKey=EXTENSION_KEY,
                                type=EXTENSION_TYPE),
        extraConfig=[client.create('OptionValue', key=k, value=v)
                     for k, v in (extra_config or {}).items()],
        deviceChange=disk_add(client, disk, profile_id))
    if instance_uuid:
        spec.instanceUuid = instance_uuid
    if profile_id:
        spec.vmProfile = [_profile(client, profile_id)]
    return spec


def disk_add(client, disk: DiskSpec, profile_id: str | None = None) -> list:
    """Device changes adding a controller (unless IDE) and a new disk file on it."""
    changes = []
    if disk.adapter_type is AdapterType.IDE:
        controller_key = _IDE_CONTROLLER_KEY
    else:
        controller = client.create(disk.adapter_type.controller_type, key=_CONTROLLER_KEY,
                                   busNumber=0, sharedBus='noSharing')
        changes.append(client.create('VirtualDeviceConfigSpec', operation='add',
                                     device=controller))
        controller_key = _CONTROLLER_KEY
    backing = client.create('VirtualDiskFlatVer2BackingInfo', fileName='',
                            diskMode='persistent',
                            thinProvisioned=disk.disk_type.thin_provisioned,
                            eagerlyScrub=disk.disk_type.eagerly_scrub)
    if disk.uuid:
        backing.uuid = disk.uuid
    device = client.create('VirtualDisk', key=controller_key - 1, unitNumber=0,
                           controllerKey=controller_key, backing=backing,
                           capacityInKB=max(KiB, -(-disk.size_bytes // KiB)))
    change = client.create('VirtualDeviceConfigSpec', operation='add',
                           fileOperation='create', device=device)
    if profile_id:
        change.profile = [_profile(client, profile_id)]
    return [change, *changes]


def _profile(client, profile_id: str):
    return client.create('VirtualMachineDefinedProfileSpec', profileId=profile_id)


def extension(client, version: str):
    """Our vCenter extension, named by backings' ``managedBy`` so vSphere shows their owner."""
    return client.create(
        'Extension', key=EXTENSION_KEY, version=version,
        description=client.create('Description', label='OpenStack Cinder',
                                  summary='Volumes of OpenStack Cinder (vmdk-volume)'),
        managedEntityInfo=[client.create('ExtManagedEntityInfo', type=EXTENSION_TYPE)],
        lastHeartbeatTime=datetime.datetime.now(datetime.UTC).isoformat())


def relocate_spec(client, *, datastore: str, host: str, pool: str, disk_key: int | None = None,
                  disk_type: DiskType | None = None, disk_uuid: str | None = None,
                  profile_id: str | None = None, drop_profile: bool = False):
    """Where a relocated or cloned backing goes. With ``disk_key``, a disk locator gives the
    disk its provisioning (``disk_type``), UUID and storage policy at the destination;
    ``drop_profile`` removes the policy the backing had."""
    spec = client.create('VirtualMachineRelocateSpec',
                         datastore=client.ref('Datastore', datastore),
                         host=client.ref('HostSystem', host),
                         pool=client.ref('ResourcePool', pool))
    if disk_key is not None:
        backing = client.create('VirtualDiskFlatVer2BackingInfo', fileName='',
                                diskMode='persistent')
        if disk_type:
            backing.thinProvisioned = disk_type.thin_provisioned
            backing.eagerlyScrub = disk_type.eagerly_scrub
        if disk_uuid:
            backing.uuid = disk_uuid
        locator = client.create('VirtualMachineRelocateSpecDiskLocator', diskId=disk_key,
                                datastore=spec.datastore, diskBackingInfo=backing)
        if profile_id or drop_profile:
            locator.profile = profile_specs(client, profile_id)
        spec.disk = [locator]
    if profile_id or drop_profile:
        spec.profile = profile_specs(client, profile_id)
    return spec


def clone_spec(client, relocate, *, volume_id: str, marks: Mapping[str, str],
               template: bool = False, snapshot: str | None = None, linked: bool = False,
               grow: tuple[int, int] | None = None, leave_out: tuple = (),
               unset: tuple[str, ...] = ()):
    """A CloneVM spec giving the clone its identity (instanceUuid ``volume_id``, exactly
    ``marks``; the disk UUID travels in ``relocate``'s locator), of the VM as it is or at
    ``snapshot`` (a moref value). A ``linked`` clone shares ``snapshot``'s disk through a
    child delta disk. ``grow`` (disk key, bytes) enlarges the copied disk in the same task;
    the disks ``leave_out`` (VirtualDisks as read) are not copied (removed from the clone's
    devices, their files untouched: the in-tree driver's ``disks_to_clone``), and the
    source's extraConfig options ``unset`` are not given to the clone."""
    if linked:
        relocate.diskMoveType = 'createNewChildDiskBacking'
    config = client.create('VirtualMachineConfigSpec', instanceUuid=volume_id,
                           extraConfig=mark_options(client, marks, unset))
    changes = [client.create('VirtualDeviceConfigSpec', operation='remove', device=disk)
               for disk in leave_out]
    if grow is not None:
        disk = client.create('VirtualDisk', key=grow[0], capacityInKB=-(-grow[1] // KiB))
        changes.append(client.create('VirtualDeviceConfigSpec', operation='edit', device=disk))
    if changes:
        config.deviceChange = changes
    spec = client.create('VirtualMachineCloneSpec', location=relocate, powerOn=False,
                         template=template, config=config)
    if snapshot is not None:
        spec.snapshot = client.ref('VirtualMachineSnapshot', snapshot)
    return spec


def profile_specs(client, profile_id: str | None) -> list:
    """A VM's or disk's ``profile`` field: the policy, or the empty profile to drop one."""
    if profile_id:
        return [_profile(client, profile_id)]
    return [client.create('VirtualMachineEmptyProfileSpec')]


def disk_edit(client, disk, **changes):
    """A device change editing ``disk`` (a VirtualDisk as read) with ``changes`` applied:
    ``profile_id`` sets its policy, other keys set device fields (controllerKey...)."""
    change = client.create('VirtualDeviceConfigSpec', operation='edit', device=disk)
    if 'profile_id' in changes:
        change.profile = profile_specs(client, changes.pop('profile_id'))
    for name, value in changes.items():
        setattr(disk, name, value)
    return change


def disk_capacity_edit(client, disk, size_bytes: int):
    """A device change growing ``disk`` (as read) to ``size_bytes``, rounded up to KiB."""
    kb = -(-size_bytes // KiB)
    return disk_edit(client, disk, capacityInKB=kb, capacityInBytes=kb * KiB)


def device_changes(client, changes: list, profile_id: str | None = None,
                   set_profile: bool = False):
    """A ReconfigVM spec making the device ``changes``; with ``set_profile``, giving the VM
    the policy ``profile_id`` too."""
    spec = client.create('VirtualMachineConfigSpec', deviceChange=changes)
    if set_profile:
        spec.vmProfile = profile_specs(client, profile_id)
    return spec


def adapter_change(client, disk, controller, adapter_type: AdapterType) -> list:
    """Device changes moving ``disk`` from ``controller`` (as read) to a new controller of
    ``adapter_type``, removing the old one (the IDE controller is built in: never added or
    removed)."""
    changes = []
    if adapter_type is AdapterType.IDE:
        key = _IDE_CONTROLLER_KEY
    else:
        key = _CONTROLLER_KEY
        controller_spec = client.create(adapter_type.controller_type, key=key, busNumber=0,
                                        sharedBus='noSharing')
        changes.append(client.create('VirtualDeviceConfigSpec', operation='add',
                                     device=controller_spec))
    changes.append(disk_edit(client, disk, controllerKey=key, unitNumber=0))
    if controller.key != _IDE_CONTROLLER_KEY:
        changes.append(client.create('VirtualDeviceConfigSpec', operation='remove',
                                     device=controller))
    return changes


def identity_config(client, *, name: str | None, volume_id: str, disk=None, mark: bool = True):
    """A ReconfigVM spec giving a VM a volume's identity (name, instanceUuid, exactly the
    volume's marks, managedBy, its disk's UUID); with ``mark`` False, only removing every
    mark."""
    if not mark:
        return client.create('VirtualMachineConfigSpec', extraConfig=mark_options(client, {}))
    spec = client.create(
        'VirtualMachineConfigSpec', instanceUuid=volume_id,
        extraConfig=mark_options(client, volume_marks(volume_id)),
        managedBy=client.create('ManagedByInfo', extensionKey=EXTENSION_KEY,
                                type=EXTENSION_TYPE), **({'name': name} if name else {}))
    if disk is not None:
        disk.backing.uuid = volume_id
        spec.deviceChange = [disk_edit(client, disk)]
    return spec
