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


"""A VM's virtual devices as read (``config.hardware.device``): its disks and controllers."""

from collections.abc import Iterable, Sequence

from vmdk_volume.units import KiB

DISK = 'VirtualDisk'
FLAT_BACKING = 'VirtualDiskFlatVer2BackingInfo'


def device_list(value) -> list:
    """The devices of a ``config.hardware.device`` value as read ([] if unset)."""
    return list(getattr(value, 'VirtualDevice', None) or [])


def disks(devices: Iterable) -> list:
    """The VirtualDisks among ``devices``, in order."""
    return [device for device in devices if type(device).__name__ == DISK]


def first_disk(devices: Iterable):
    """The first VirtualDisk among ``devices``, or None."""
    return next(iter(disks(devices)), None)


def disk_with_file(devices: Iterable, path: str):
    """The VirtualDisk among ``devices`` whose backing is the file ``path``, or None."""
    return next((disk for disk in disks(devices)
                 if getattr(disk.backing, 'fileName', None) == path), None)


def disk_uuid(disk) -> str:
    """The disk's uuid, lower case ('' if it has none)."""
    return (getattr(disk.backing, 'uuid', None) or '').lower()


def disk_with_uuid(devices: Iterable, uuid: str):
    """The disk whose uuid is ``uuid`` (any case), or None; None for an empty uuid."""
    return next((disk for disk in disks(devices) if uuid and disk_uuid(disk) == uuid.lower()),
                None)


def controller_of(devices: Sequence, disk):
    """The controller ``disk`` hangs off, or None."""
    return next((device for device in devices if device.key == disk.controllerKey), None)


def capacity_bytes(disk) -> int:
    return int(disk.capacityInKB) * KiB


def file_name(disk) -> str | None:
    return getattr(disk.backing, 'fileName', None)


def is_flat(disk) -> bool:
    """Whether ``disk`` is a flat VMDK (not an RDM, a sparse or SE sparse disk)."""
    return type(disk.backing).__name__ == FLAT_BACKING


def kind_of(device) -> str:
    """The vim25 type name of a device or backing as read (``ParaVirtualSCSIController``)."""
    return type(device).__name__
