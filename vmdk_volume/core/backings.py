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

"""Backings: the shadow VMs that hold volumes' disks, found, created and destroyed.

A backing is named after its volume and carries the volume id as its ``instanceUuid``, its
disk's UUID and the extraConfig key ``cinder.volume.id``, so it is found with one
``FindAllByUuid`` through the SearchIndex, never by scanning the inventory.

A call that makes a VM or a snapshot is not repeated blindly when its answer is lost
(``errors.ReplyLost``): vCenter keeps VM names unique in a folder, so the repeat of a VM's
creation fails with DuplicateName if the lost call made the VM, and that VM is taken if it
carries the identity asked for. Snapshot names are not unique, so a snapshot is first awaited
(``LOST_SNAPSHOT_WAIT_S``) and taken if it appears, then made again, and a twin the lost call
made meanwhile is removed.
"""

import dataclasses
from collections.abc import Callable, Mapping

from oslo_log import log as logging

from vmdk_volume.core.placement import Placement
from vmdk_volume.core.volume_type import VolumeProfile
from vmdk_volume.vsphere import (
    devices,
    disk_manager,
    errors,
    leases,
    properties,
    search_index,
    specs,
)
from vmdk_volume.vsphere.disks import AdapterType, DiskType
from vmdk_volume.vsphere.vm import Snapshot, VirtualMachine, create_vm, read_all

LOG = logging.getLogger(__name__)
VOLUME_ID_KEY = specs.VOLUME_ID_KEY
# How long a snapshot whose CreateSnapshot answer was lost may take to appear before the
# call is made again: vCenter takes a call it received late after the client gave up.
LOST_SNAPSHOT_WAIT_S = 10
IDENTITY_PATHS = ('name', 'config.extraConfig')     # what ``check_identity`` reads
# VM snapshot names the driver gives: 'snapshot-<id>' (Cinder's name), 'clone-<id>'
DRIVER_SNAPSHOT_PREFIXES = ('snapshot-', 'clone-')


@dataclasses.dataclass(frozen=True)
class Backing:
    """An existing backing and its disk."""

    ref: str                 # VM moref value
    name: str
    vmdk_path: str           # '[datastore] dir/file.vmdk'
    datastore: str           # moref value of the disk's datastore
    size_bytes: int
    disk_key: int
    datacenter: str          # moref value, of the disk's datastore
    adapter_type: AdapterType | None = None
    has_snapshots: bool = False
    disk_type: DiskType | None = None
    # moref value -> name of the backing's VM snapshots
    snapshots: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    # The disk and its controller as read, for reconfigurations that edit them.
    disk: object = dataclasses.field(default=None, compare=False, repr=False)
    controller: object = dataclasses.field(default=None, compare=False, repr=False)
    # What a copy leaves out of an instance whose disk is a volume's: its other disks, and
    # the keys of its extraConfig options that are Nova's (``specs.nova_option_keys``).
    other_disks: tuple = dataclasses.field(default=(), compare=False, repr=False)
    nova_options: tuple[str, ...] = dataclasses.field(default=(), compare=False, repr=False)

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
    # the marks (specs.*_marks); a volume's backing gets specs.volume_marks(volume_id)
    extra_config: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pool: str | None = None     # the pool the scheduler chose: Backend.place tries it first


class Backings:
    """Backing lookups and changes on one vCenter; ``datacenter_of`` names the datacenter
    (moref value) of a datastore (moref value), from the backend's inventory."""

    def __init__(self, client, datacenter_of: Callable[[str], str]):
        self._client = client
        self._datacenter_of = datacenter_of

    def find(self, volume_id: str) -> str | None:
        """The moref value of the volume's backing, or None: one FindAllByUuid call."""
        found = search_index.vms_with_instance_uuid(self._client, volume_id)
        if len(found) > 1:
            LOG.warning('Volume %s has %d backings (%s); using %s', volume_id, len(found),
                        ', '.join(found), found[0])
        return found[0] if found else None

    def describe(self, ref: str, identity: Mapping[str, str] | None = None) -> Backing:
        """Read a backing's name, disk, controller and snapshots: one call (its datacenter
        from the inventory). With ``identity`` (extraConfig marks), NotFound unless the VM
        carries it."""
        props = VirtualMachine(self._client, ref).read([
            'config.hardware.device', 'snapshot', *IDENTITY_PATHS])
        check_identity(ref, props, identity)
        trees = properties.snapshot_trees(props.get('snapshot'))
        return backing_of(ref, props['name'], devices.device_list(
                              props['config.hardware.device']), self._datacenter_of,
                          has_snapshots=bool(props.get('snapshot')),
                          snapshots={tree.snapshot.value: tree.name for tree in trees})

    def verify(self, ref: str, identity: Mapping[str, str]) -> str:
        """``ref`` if that VM exists and carries ``identity`` (one call); else NotFound."""
        props = VirtualMachine(self._client, ref).read(IDENTITY_PATHS)
        check_identity(ref, props, identity)
        return ref

    def create_at(self, request: BackingRequest, placement: Placement, folder: str) -> str:
        """Create the backing in ``folder`` where ``placement`` says (chosen by
        ``Provisioner.create``); return its moref value."""
        created, made = self._once(request.name, _identity(request), lambda: create_vm(
            self._client, folder=folder, config=self._config(request, placement),
            pool=placement.resource_pool, host=placement.host.ref))
        vm = made or created
        LOG.info('Created backing %s (%s) of volume %s on datastore %s, host %s',
                 request.name, vm, request.volume_id, placement.datastore.name,
                 placement.host.name)
        return vm

    def import_lease(self, request: BackingRequest, placement: Placement,
                     folder: str) -> leases.Lease:
        """Start creating the backing with a disk of ``request.size_bytes`` that arrives
        as a streamOptimized VMDK over the returned NFC import lease. If a lost answer left
        the VM of an import nobody holds the lease of, that VM is destroyed and the import
        started again."""
        def start():
            return leases.Lease.import_vm(self._client,
                                          config=self._config(request, placement),
                                          pool=placement.resource_pool, folder=folder,
                                          host=placement.host.ref)
        lease, abandoned = self._once(request.name, _identity(request), start)
        if abandoned is None:
            return lease
        LOG.warning('Destroying %s (%s): its import lease is nobody\'s', request.name,
                    abandoned)
        self.delete(abandoned)
        return start()

    def _config(self, request: BackingRequest, placement: Placement):
        profile = request.profile
        return specs.backing_config(
            self._client, name=request.name, datastore_name=placement.datastore.name,
            instance_uuid=request.volume_id, profile_id=request.profile_id,
            extra_config=_identity(request),
            disk=specs.DiskSpec(request.size_bytes, profile.disk_type, profile.adapter_type,
                                uuid=request.volume_id))

    def _once(self, name: str, identity: Mapping[str, str], make) -> tuple[object, str | None]:
        """``(make(), None)``, ``make`` being a call that makes the VM ``name`` in a folder.
        If the answer is lost, ``make`` runs again; if vCenter then refuses the name, the
        lost call made the VM: ``(None, its moref value)``, provided it carries ``identity``
        (see the module docstring)."""
        try:
            return make(), None
        except errors.ReplyLost as lost:
            LOG.warning('%s; making %s again', lost, name)
        try:
            return make(), None
        except errors.AlreadyExists as duplicate:
            made = self._holder(duplicate, identity)
        LOG.info('%s (%s) was made by the call whose answer was lost', name, made)
        return None, made

    def _holder(self, duplicate: errors.AlreadyExists, identity: Mapping[str, str]) -> str:
        """The VM holding the name ``duplicate`` refused, if it carries ``identity`` (its
        extraConfig marks); else ``duplicate`` is raised again."""
        if duplicate.holder:
            try:
                return self.verify(duplicate.holder, identity)
            except errors.NotFound:
                pass
        raise duplicate

    def datastores(self, ref: str) -> list[str]:
        """Moref values of the datastores holding the backing's files: one call."""
        stores = VirtualMachine(self._client, ref).read(['datastore']).get('datastore')
        return properties.ref_values(stores)

    def relocate(self, ref: str, placement: Placement, *, disk_key: int | None = None,
                 disk_type: DiskType | None = None, profile_id: str | None = None,
                 drop_profile: bool = False) -> None:
        """Move the backing and its disk to ``placement``'s datastore, host and pool; with
        ``disk_key``, converting the disk to ``disk_type`` and the policy ``profile_id``
        (``drop_profile``: none) on the way."""
        client = self._client
        spec = specs.relocate_spec(client, datastore=placement.datastore.ref,
                                   host=placement.host.ref, pool=placement.resource_pool,
                                   disk_key=disk_key, disk_type=disk_type,
                                   profile_id=profile_id, drop_profile=drop_profile)
        VirtualMachine(client, ref).relocate(spec)
        LOG.info('Moved backing %s to datastore %s, host %s', ref, placement.datastore.name,
                 placement.host.name)

    def reconfigure(self, ref: str, spec) -> None:
        """Apply a VirtualMachineConfigSpec (built by ``specs``): one ReconfigVM task."""
        VirtualMachine(self._client, ref).reconfigure(spec)

    def clone_to(self, source: Backing, request: BackingRequest, placement: Placement,
                 folder: str, *, template: bool = False, snapshot: str | None = None,
                 linked: bool = False, grow: bool = False) -> str:
        """A copy of ``source`` (at ``snapshot`` if given) where ``placement`` says (chosen
        by ``Provisioner.clone``) with ``request``'s identity, disk type and policy (and
        size, if ``grow``): one CloneVM task. Returns the copy's moref value."""
        client = self._client
        relocate = specs.relocate_spec(
            client, datastore=placement.datastore.ref, host=placement.host.ref,
            pool=placement.resource_pool, disk_key=None if linked else source.disk_key,
            disk_type=request.profile.disk_type, disk_uuid=request.volume_id,
            profile_id=request.profile_id)
        identity = _identity(request)
        spec = specs.clone_spec(client, relocate, volume_id=request.volume_id, marks=identity,
                                template=template, snapshot=snapshot, linked=linked,
                                grow=(source.disk_key, request.size_bytes) if grow else None,
                                leave_out=source.other_disks, unset=source.nova_options)
        clone, made = self._once(request.name, identity, lambda: VirtualMachine(
            client, source.ref).clone(folder=folder, name=request.name, spec=spec))
        vm = made or clone
        LOG.info('Cloned backing %s of %s into %s (%s)', source.ref, request.name, vm,
                 'linked' if linked else 'template' if template else 'full')
        return vm

    def extend_in_place(self, backing: Backing, size_bytes: int) -> None:
        """Grow the backing's disk on its datastore (``Provisioner.extend`` moves it first if
        that is full): one ExtendVirtualDisk task."""
        disk_manager.extend(self._client, backing.vmdk_path, backing.datacenter, size_bytes)

    def extend_attached(self, ref: str, instance: str, size_bytes: int,
                        identity: Mapping[str, str] | None = None) -> None:
        """Grow the backing's disk where a running instance has it attached (online): one
        read (``_instance_disk``), one ReconfigVM of the instance editing the disk's
        capacity (vSphere grows a disk in use only through the VM that uses it)."""
        _, disk = self._instance_disk(ref, instance, identity)
        self.reconfigure(instance, specs.device_changes(self._client, [
            specs.disk_capacity_edit(self._client, disk, size_bytes)]))

    def through_instance(self, ref: str, instance: str,
                         identity: Mapping[str, str] | None = None) -> Backing:
        """The backing's disk as the instance that has it attached holds it, to copy it
        through the instance (vSphere lets no other VM copy a disk a running VM holds): the
        instance as a ``Backing`` of that disk, its other disks and Nova's options to leave
        out (a copy Nova took for the instance would confuse Nova). One read
        (``_instance_disk``)."""
        found, disk = self._instance_disk(ref, instance, identity)
        held = backing_of(instance, found['name'], devices.device_list(
            found['config.hardware.device']), self._datacenter_of, disk=disk)
        others = tuple(d for d in devices.disks(devices.device_list(
            found['config.hardware.device'])) if d.key != disk.key)
        return dataclasses.replace(held, other_disks=others, nova_options=specs.nova_option_keys(
            properties.options(found.get('config.extraConfig'))))

    def _instance_disk(self, ref: str, instance: str,
                       identity: Mapping[str, str] | None) -> tuple[Mapping, object]:
        """The instance's properties and its disk of the backing ``ref``: one read of both
        VMs' devices (and the backing's ``identity``, checked). The instance's disk is the
        one with the backing's disk uuid (its file moves with the instance's storage
        vMotion; the uuid stays)."""
        found = {item.value: item.props for item in read_all(
            self._client, [ref, instance], ['config.hardware.device', *IDENTITY_PATHS])}
        check_identity(ref, found.get(ref), identity)
        if instance not in found:
            raise errors.NotFound('ManagedObjectNotFound', 'instance %s is gone' % instance)
        own = backing_of(ref, ref, devices.device_list(found[ref]['config.hardware.device']),
                         self._datacenter_of)
        uuid = devices.disk_uuid(own.disk)
        disk = devices.disk_with_uuid(devices.device_list(
            found[instance]['config.hardware.device']), uuid)
        if disk is None:
            raise errors.NotFound('NotFound', 'instance %s has no disk with uuid %s (the disk '
                                  'of backing %s, %s)' % (instance, uuid or '(none)', ref,
                                                          own.vmdk_path))
        return found[instance], disk

    def snapshot(self, ref: str, name: str, description: str = '') -> str:
        """A VM snapshot of the backing (its disk becomes copy-on-write); its moref value."""
        vm = VirtualMachine(self._client, ref)

        def take():
            return vm.create_snapshot(name, description)
        try:
            return take()
        except errors.ReplyLost as lost:
            LOG.warning('%s; waiting up to %d s for snapshot %s of %s', lost,
                        LOST_SNAPSHOT_WAIT_S, name, ref)
        named = vm.watch('snapshot', lambda info: any(
            tree.name == name for tree in properties.snapshot_trees(info)),
            LOST_SNAPSHOT_WAIT_S)
        if named is not None:
            return next(tree.snapshot.value for tree in properties.snapshot_trees(named)
                        if tree.name == name)
        snap = take()
        # vCenter runs a VM's snapshot tasks one after the other: a twin the lost call made
        # meanwhile is in the tree by now.
        info = vm.read(['snapshot']).get('snapshot')
        for tree in properties.snapshot_trees(info):
            if tree.name == name and tree.snapshot.value != snap:
                LOG.warning('Removing snapshot %s of %s, the twin of %s made by the call '
                            'whose answer was lost', tree.snapshot.value, ref, snap)
                self.remove_snapshot(tree.snapshot.value)
        return snap

    def remove_snapshot(self, snapshot: str) -> bool:
        """Remove a VM snapshot, consolidating its delta; False if it was gone already."""
        try:
            Snapshot(self._client, snapshot).remove()
        except errors.NotFound:
            return False
        return True

    def revert(self, snapshot: str) -> None:
        Snapshot(self._client, snapshot).revert()

    def copy_disk(self, source: Backing, target: Backing) -> None:
        """Overwrite ``target``'s disk with ``source``'s (server-side)."""
        self.copy_disk_file(source.vmdk_path, source.datacenter, target)

    def copy_disk_file(self, source_path: str, source_datacenter: str,
                       target: Backing) -> None:
        """Overwrite ``target``'s disk with the disk at ``source_path`` ('[ds] dir/file' in
        the datacenter of moref value ``source_datacenter``), server-side."""
        disk_manager.copy(self._client, source_path, source_datacenter, target.vmdk_path,
                          target.datacenter)

    def move(self, ref: str, folder: str) -> None:
        """Move the backing into ``folder``."""
        VirtualMachine(self._client, ref).move_to(folder)

    def delete(self, ref: str, identity: Mapping[str, str] | None = None) -> bool:
        """Destroy a backing and its disk; False if it was gone already, or (checked first
        with one call) does not carry ``identity``."""
        try:
            if identity is not None:
                self.verify(ref, identity)
            VirtualMachine(self._client, ref).destroy()
        except errors.NotFound as error:
            LOG.info('%s: not destroyed', error)
            return False
        return True


def volume_identity(volume_id: str) -> Mapping[str, str]:
    """The extraConfig marks of the backing of volume ``volume_id``."""
    return {VOLUME_ID_KEY: volume_id}


def check_identity(ref: str, props: Mapping, identity: Mapping[str, str] | None) -> None:
    """NotFound if the VM ``ref`` read as ``props`` (with ``IDENTITY_PATHS``) is gone, or
    does not carry every mark of ``identity``: a stored moref value may have been given to
    another VM since (a vCenter restored from a backup, another vCenter)."""
    if not props:
        raise errors.NotFound('ManagedObjectNotFound', 'VM %s is gone' % ref)
    marks = properties.options(props.get('config.extraConfig'))
    wrong = {key: marks.get(key) for key, value in (identity or {}).items()
             if marks.get(key) != value}
    if wrong:
        raise errors.NotFound('NotFound', 'VM %s (%s) is not the one meant: it carries %s, '
                              'not %s' % (ref, props.get('name'), wrong, dict(identity)))


def named_snapshot(backing: Backing, name: str, snapshot: str) -> str | None:
    """The moref value of ``backing``'s VM snapshot ``name`` (``snapshot`` if it has that
    name), or ``snapshot`` if no snapshot has the name and ``snapshot`` is one whose name is
    not one the driver gives (a managed snapshot keeps its own); else None."""
    if backing.snapshots.get(snapshot) == name:
        return snapshot
    named = next((ref for ref, has in backing.snapshots.items() if has == name), None)
    if named is None and snapshot in backing.snapshots and \
            not backing.snapshots[snapshot].startswith(DRIVER_SNAPSHOT_PREFIXES):
        return snapshot
    return named


def _identity(request: BackingRequest) -> Mapping[str, str]:
    """The extraConfig marks a VM made for ``request`` carries (and no other mark)."""
    return request.extra_config or specs.volume_marks(request.volume_id)


def backing_of(ref: str, name: str, devices_read: list, datacenter_of: Callable[[str], str],
               has_snapshots: bool = False, snapshots: Mapping[str, str] | None = None,
               disk=None) -> Backing:
    """A ``Backing`` from a VM's devices (``disk``, else its first disk; NotFound if it has
    none), in the datacenter ``datacenter_of`` its datastore."""
    disk = disk or devices.first_disk(devices_read)
    if disk is None:
        raise errors.NotFound('NotFound', 'VM %s (%s) has no disk' % (name, ref))
    controller = devices.controller_of(devices_read, disk)
    datastore = disk.backing.datastore.value
    return Backing(ref=ref, name=name, vmdk_path=disk.backing.fileName, datastore=datastore,
                   datacenter=datacenter_of(datastore),
                   size_bytes=devices.capacity_bytes(disk), disk_key=disk.key,
                   adapter_type=_ADAPTERS.get(devices.kind_of(controller)),
                   has_snapshots=has_snapshots, disk_type=_disk_type(disk.backing),
                   disk=disk, controller=controller, snapshots=snapshots or {})


def _disk_type(backing) -> DiskType | None:
    if not hasattr(backing, 'thinProvisioned'):
        return None
    if getattr(backing, 'thinProvisioned', False):
        return DiskType.THIN
    return DiskType.EAGER_ZEROED_THICK if getattr(backing, 'eagerlyScrub', False) \
        else DiskType.THICK


_ADAPTERS = {adapter.controller_type: adapter for adapter in AdapterType}
