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

"""Backings placed and filed: made, copied, grown and moved where placement says, in the
project's volume folder.

``Provisioner`` is the one entry for each of these operations; ``Backings`` below it acts at
a placement and folder it is given (``create_at``, ``clone_to``, ``extend_in_place``), and
the placement (``Placer``, the backend's inventory and placement) chooses them. A cached
folder, pool or host removed behind our back (a vCenter restored from a backup, an
operator's clean-up) is looked up afresh once (``_afresh_if_gone``).
"""

import dataclasses
import typing
from collections.abc import Callable

from oslo_log import log as logging

from vmdk_volume.core import folders as vfolders
from vmdk_volume.core import locks as vlocks
from vmdk_volume.core import placement
from vmdk_volume.core.backings import Backing, BackingRequest, Backings
from vmdk_volume.vsphere import errors, leases
from vmdk_volume.vsphere import inventory as vinventory
from vmdk_volume.vsphere.policies import Policies

LOG = logging.getLogger(__name__)
SNAPSHOT_FOLDER = 'Snapshots'   # template snapshots live below the project's volume folder
T = typing.TypeVar('T')


class InUse(Exception):
    """The volume is attached where the change asked for cannot be made."""


class Placer(typing.Protocol):
    """The inventory and placement of one backend (``backend.Backend``)."""

    def inventory(self, refresh: bool = False) -> vinventory.Inventory: ...

    def current_inventory(self) -> vinventory.Inventory: ...

    def place(self, request: placement.PlacementRequest,
              pool: str | None = None) -> placement.Placement: ...

    def placement_request(self, size_bytes: int, host: str | None = None,
                          **changes) -> placement.PlacementRequest: ...

    def instance_host(self, instance: str) -> str: ...

    def compatible_datastores(self, profile_id: str) -> frozenset[str]: ...


class Placed(typing.NamedTuple):
    """A backing just made (moref value) and where it went."""

    ref: str
    where: placement.Placement


class Provisioner:
    """Makes, copies, grows and moves backings: ``placer`` chooses where, ``folders`` files
    them under ``volume_folder`` (the backend's option), ``backings`` acts, ``policies``
    names storage policies and ``locks`` excludes other makers of a volume's backing."""

    def __init__(self, placer: Placer, backings: Backings, folders: vfolders.Folders,
                 policies: Policies, locks: vlocks.Locks, volume_folder: str):
        self._placer = placer
        self._backings = backings
        self._folders = folders
        self._policies = policies
        self._locks = locks
        self._volume_folder = volume_folder

    def create(self, request: BackingRequest, project_id: str, instance: str | None = None,
               pool: str | None = None) -> Placed:
        """Place and create a backing in the project's volume folder (in the pool named
        ``pool`` if it fits; on a datastore ``instance``'s host uses, if given)."""
        request = self._with_profile_id(request)
        host = self._placer.instance_host(instance) if instance else None

        def create():
            where = self._placer.place(self._backing_placement(request, host), pool)
            return Placed(self._backings.create_at(
                request, where, self.volume_folder(where, project_id)), where)
        return self._afresh_if_gone(create)

    def ensure(self, request: BackingRequest, project_id: str, instance: str | None = None,
               in_use_by: str | None = None, pool: str | None = None) -> tuple[str, str | None]:
        """The volume's backing, created if missing (in the pool named ``pool`` if it fits),
        on a datastore ``instance``'s host uses (moved there if it is elsewhere, unless the
        volume is in use by the instance ``in_use_by``): under the volume's lock, so
        concurrent first attaches, here or in another process, make one backing. Its moref
        value, and its datastore's (None: not known without a call, when no instance is
        given and the backing existed)."""
        with self._locks(vlocks.name('backing', request.volume_id)):
            found = self._backings.find(request.volume_id)
            if found is None:
                ref, where = self.create(request, project_id, instance, pool)
                return ref, where.datastore.ref
            datastore = None
            if instance:
                datastore = self.make_reachable(found, request.size_bytes, instance, in_use_by)
            return found, datastore

    def start_import(self, request: BackingRequest, folder_path: tuple[str, ...],
                     pool: str | None = None) -> tuple[placement.Placement, leases.Lease]:
        """Place a backing for ``request`` in ``folder_path`` (below the datacenter's VM
        folder), in the pool named ``pool`` if it fits, and start importing it: where it
        goes and the NFC import lease."""
        request = self._with_profile_id(request)

        def start():
            where = self._placer.place(self._backing_placement(request, None), pool)
            folder = self._folders.ensure(where.datacenter, folder_path)
            return where, self._backings.import_lease(request, where, folder)
        return self._afresh_if_gone(start)

    def make_reachable(self, ref: str, size_bytes: int, instance: str,
                       in_use_by: str | None = None) -> str:
        """Move a backing whose datastore the instance's host cannot use (three calls when
        it can: the instance's host, the inventory's changes and the backing's datastores);
        the datastore (moref value) the instance's host reaches it on. A volume in use by
        the instance ``in_use_by`` is never moved: vSphere moves no disk a running VM has
        open (InUse)."""
        host = self._placer.instance_host(instance)
        inventory = self._placer.current_inventory()
        held = [ds for ds in self._backings.datastores(ref) if ds in inventory.datastores]
        reachable = [ds for ds in held if host in inventory.datastores[ds].usable_hosts()]
        if reachable:
            return reachable[0]
        if in_use_by:
            raise InUse('the volume of backing %s is in use by %s on datastore %s, '
                        'which host %s of instance %s does not mount; vSphere cannot move a '
                        'disk a running VM has open: detach it from %s first'
                        % (ref, in_use_by,
                           ', '.join(inventory.datastores[ds].name for ds in held) or '?',
                           inventory.hosts[host].name, instance, in_use_by))
        where = self._placer.place(self._placer.placement_request(size_bytes, host))
        self._backings.relocate(ref, where)
        return where.datastore.ref

    def clone(self, source: Backing, request: BackingRequest, project_id: str, *,
              pool: str | None = None, linked: bool = False, template: bool = False,
              snapshot: str | None = None, grow_in_clone: bool = False) -> Placed:
        """Copy ``source`` into a new backing for ``request`` (a template for a snapshot):
        full copies go where placement says (in the pool named ``pool`` if it fits), linked
        ones stay on the source's datastore. A larger full copy is grown afterwards, or by
        the clone task if ``grow_in_clone``."""
        if not linked:
            request = self._with_profile_id(request)
        path = self.volume_folder_path(project_id)
        if template:
            path += (SNAPSHOT_FOLDER,)
        grow = grow_in_clone and not linked and request.size_bytes > source.size_bytes

        def clone():
            where = self._clone_placement(source, request, linked, pool)
            folder = self._folders.ensure(where.datacenter, path)
            return Placed(self._backings.clone_to(
                source, request, where, folder, template=template, snapshot=snapshot,
                linked=linked, grow=grow), where)
        made = self._afresh_if_gone(clone)
        if request.size_bytes > source.size_bytes and not template and not grow:
            try:
                self.extend(made.ref, request.size_bytes)
            except errors.VSphereError:
                self._backings.delete(made.ref)     # leave nothing half-made behind
                raise
        return made

    def _clone_placement(self, source: Backing, request: BackingRequest, linked: bool,
                         pool: str | None) -> placement.Placement:
        if not linked:
            return self._placer.place(self._backing_placement(request, None), pool)
        exclude = frozenset(self._placer.inventory().datastores) - {source.datastore}
        return self._placer.place(self._placer.placement_request(0, exclude_datastores=exclude))

    def extend(self, ref: str, size_bytes: int, backing: Backing | None = None) -> None:
        """Grow a backing's disk; if its datastore is full, move it where it fits first.
        ``backing`` is the backing as just described, if the caller has it (saves a call)."""
        backing = backing or self._backings.describe(ref)
        try:
            self._backings.extend_in_place(backing, size_bytes)
        except errors.NoDiskSpace:
            where = self._placer.place(self._placer.placement_request(
                size_bytes, exclude_datastores=frozenset([backing.datastore])))
            LOG.info('Datastore of backing %s is full: moving it to %s to grow it', ref,
                     where.datastore.name)
            self._backings.relocate(ref, where)
            self._backings.extend_in_place(self._backings.describe(ref), size_bytes)

    def move_to_project(self, ref: str, project_id: str, volume_folder: str | None = None,
                        backing: Backing | None = None) -> None:
        """File a backing under a project's volume folder (``volume_folder`` if given, else
        this backend's): volume transfer, migration, manage. ``backing``: as just described,
        if the caller has it (saves a call)."""
        backing = backing or self._backings.describe(ref)
        datacenter = self._placer.inventory().datacenters[backing.datacenter]
        path = vfolders.volume_folder_path(project_id, volume_folder or self._volume_folder)
        self._backings.move(ref, self._folders.ensure(datacenter, path))

    def volume_folder_path(self, project_id: str) -> tuple[str, ...]:
        """The folder names of the project's volume folder below a datacenter's vmFolder."""
        return vfolders.volume_folder_path(project_id, self._volume_folder)

    def volume_folder(self, where: placement.Placement, project_id: str) -> str:
        """The project's volume folder in ``where``'s datacenter (created if missing)."""
        return self._folders.ensure(where.datacenter,
                                    self.volume_folder_path(project_id))

    def _with_profile_id(self, request: BackingRequest) -> BackingRequest:
        """``request`` with the id of its profile's storage policy, if it names one."""
        policy = request.profile.storage_policy
        if not policy:
            return request
        return dataclasses.replace(request, profile_id=self._policies.profile_id(policy))

    def _backing_placement(self, request: BackingRequest,
                           host: str | None) -> placement.PlacementRequest:
        compatible = None
        if request.profile_id:
            compatible = self._placer.compatible_datastores(request.profile_id)
        return self._placer.placement_request(request.size_bytes, host,
                                              policy_datastores=compatible, pool=request.pool)

    def _afresh_if_gone(self, make: Callable[[], T]) -> T:
        """``make()``; once more with folders and inventory looked up afresh if it met a
        NotFound: a cached folder, pool or host was removed behind our back."""
        try:
            return make()
        except errors.NotFound as error:
            LOG.info('%s; looking up folders and inventory again', error)
            self._folders.forget()
            self._placer.inventory(refresh=True)
        return make()
