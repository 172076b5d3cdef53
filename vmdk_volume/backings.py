"""Backings: the shadow VMs that hold volumes' disks, found, created and destroyed.

A backing is named after its volume and carries the volume id as its ``instanceUuid``, its
disk's UUID and the extraConfig key ``cinder.volume.id``, so it is found with one
``FindAllByUuid`` through the SearchIndex, never by scanning the inventory.
"""

import dataclasses
import logging

from vmdk_volume.placement import Placement
from vmdk_volume.volume_type import VolumeProfile
from vmdk_volume.vsphere import errors, properties, specs

LOG = logging.getLogger(__name__)
VOLUME_ID_KEY = 'cinder.volume.id'


@dataclasses.dataclass(frozen=True)
class Backing:
    """An existing backing and its disk."""

    ref: str                 # VM moref value
    name: str
    vmdk_path: str           # '[datastore] dir/file.vmdk'
    datastore: str           # moref value of the disk's datastore
    size_bytes: int
    controller_key: int = 0

    @property
    def datastore_name(self) -> str:
        return self.vmdk_path[1:self.vmdk_path.index(']')]


@dataclasses.dataclass(frozen=True)
class BackingRequest:
    """What a new backing must be."""

    volume_id: str
    name: str
    size_bytes: int
    profile: VolumeProfile
    profile_id: str | None = None


class Backings:
    """Backing lookups and changes on one vCenter."""

    def __init__(self, client):
        self._client = client

    def find(self, volume_id: str) -> str | None:
        """The moref value of the volume's backing, or None: one FindAllByUuid call."""
        client = self._client
        found = client.call('FindAllByUuid', client.content.searchIndex, uuid=volume_id,
                            vmSearch=True, instanceUuid=True) or []
        if len(found) > 1:
            LOG.warning('Volume %s has %d backings (%s); using %s', volume_id, len(found),
                        ', '.join(ref.value for ref in found), found[0].value)
        return found[0].value if found else None

    def describe(self, ref: str) -> Backing:
        """Read a backing's name and disk in one call."""
        vm = self._client.ref('VirtualMachine', ref)
        props = properties.fetch_one(self._client, vm, ['name', 'config.hardware.device'])
        if not props:
            raise errors.NotFound('ManagedObjectNotFound', 'backing %s is gone' % ref)
        devices = props['config.hardware.device'].VirtualDevice
        disk = next(d for d in devices if type(d).__name__ == 'VirtualDisk')
        return Backing(ref=ref, name=props['name'], vmdk_path=disk.backing.fileName,
                       datastore=disk.backing.datastore.value,
                       size_bytes=int(disk.capacityInKB) * 1024,
                       controller_key=disk.controllerKey)

    def create(self, request: BackingRequest, placement: Placement, folder: str) -> str:
        """Create the backing in ``folder`` as ``placement`` says; return its moref value."""
        client = self._client
        profile = request.profile
        config = specs.backing_config(
            client, name=request.name, datastore_name=placement.datastore.name,
            instance_uuid=request.volume_id, profile_id=request.profile_id,
            extra_config={VOLUME_ID_KEY: request.volume_id},
            disk=specs.DiskSpec(request.size_bytes, profile.disk_type, profile.adapter_type,
                                uuid=request.volume_id))
        vm = client.run('CreateVM_Task', client.ref('Folder', folder), config=config,
                        pool=client.ref('ResourcePool', placement.resource_pool),
                        host=client.ref('HostSystem', placement.host.ref))
        LOG.info('Created backing %s (%s) of volume %s on datastore %s, host %s',
                 request.name, vm.value, request.volume_id, placement.datastore.name,
                 placement.host.name)
        return vm.value

    def datastores(self, ref: str) -> list[str]:
        """Moref values of the datastores holding the backing's files: one call."""
        vm = self._client.ref('VirtualMachine', ref)
        stores = properties.fetch_one(self._client, vm, ['datastore']).get('datastore')
        return [ds.value for ds in getattr(stores, 'ManagedObjectReference', None) or []]

    def relocate(self, ref: str, placement: Placement) -> None:
        """Move the backing and its disk to ``placement``'s datastore, host and pool."""
        client = self._client
        spec = client.create('VirtualMachineRelocateSpec',
                             datastore=client.ref('Datastore', placement.datastore.ref),
                             host=client.ref('HostSystem', placement.host.ref),
                             pool=client.ref('ResourcePool', placement.resource_pool))
        client.run('RelocateVM_Task', client.ref('VirtualMachine', ref), spec=spec)
        LOG.info('Moved backing %s to datastore %s, host %s', ref, placement.datastore.name,
                 placement.host.name)

    def delete(self, ref: str) -> bool:
        """Destroy a backing and its disk; False if it was gone already."""
        try:
            self._client.run('Destroy_Task', self._client.ref('VirtualMachine', ref))
        except errors.NotFound:
            return False
        return True
