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

"""One backend: a vCenter and what the driver keeps about it between calls.

``Backend`` wires the vSphere client to the inventory cache, placement, folders and backings,
and knows nothing of Cinder: the driver, the CLI and the tests all use it. Each collaborator
it builds gets what it uses: ``Backings`` the client and the inventory's datacenter of a
datastore (so every ``Backing`` read names its datacenter), ``retype.Mover`` and
``manage.Manager`` the client, the backings, the policies and this backend for placement and
folders. The inventory is
read once per ``INVENTORY_TTL_S`` (one call), read again when placement finds nothing fitting,
and debited locally on each placement so consecutive volumes spread across datastores.
Critical sections other processes may enter too (a volume's first backing, folders, image
cache fills) take a named lock from ``locks`` (Cinder's coordination in the driver).
"""

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping

from oslo_log import log as logging

from vmdk_volume import DRIVER_VERSION
from vmdk_volume.core import backings, folders, manage, placement, pools, retype, volume_type
from vmdk_volume.core import locks as vlocks
from vmdk_volume.core.config import BackendConfig, ConfigError
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, extensions, leases, policies, storage_drs
from vmdk_volume.vsphere import inventory as vinventory

LOG = logging.getLogger(__name__)
INVENTORY_TTL_S = 120
SNAPSHOT_FOLDER = 'Snapshots'   # template snapshots live below the project's volume folder
STATS_MAX_AGE_S = 30     # Cinder asks for fresh stats after every delete: don't re-read each
MIN_VCENTER_VERSION = (6, 5)


class InUse(Exception):
    """The volume is attached where the change asked for cannot be made."""


class Backend:
    """A vCenter used as one Cinder backend (see the module docstring)."""

    def __init__(self, config: BackendConfig, client: vclient.Client,
                 locks: vlocks.Locks | None = None):
        self.config = config
        self.client = client
        self.locks = locks or vlocks.LocalLocks()
        self.folders = folders.Folders(client, self.locks)
        self.backings = backings.Backings(client, self.datacenter_of)
        self.policies = policies.Policies(client)
        self.mover = retype.Mover(client, self.backings, self.policies, self,
                                  config.volume_folder)
        self.manage = manage.Manager(client, self.backings, self)
        self._lock = threading.Lock()
        self._inventory: vinventory.Inventory | None = None
        self._read_at = 0.0
        self._compatible: dict[str, frozenset[str]] = {}   # policy id -> datastores

    @classmethod
    def connect(cls, config: BackendConfig, locks: vlocks.Locks | None = None,
                attempts: int | None = None) -> 'Backend':
        """Log in (``attempts`` times at most if given), check the vCenter version and the
        configured clusters."""
        backend = cls(config, vclient.Client.connect(config.endpoint, attempts), locks)
        with backend.closed_on_failure():
            backend.check()
        return backend

    @contextlib.contextmanager
    def closed_on_failure(self) -> Iterator[None]:
        """Log out if the block fails (a set-up that will be tried again)."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    def check(self) -> None:
        """Raise ConfigError if this vCenter cannot serve the configuration."""
        about = self.client.content.about
        version = self.config.host_version or about.version
        if about.apiType != 'VirtualCenter':
            raise ConfigError('vmware_host_ip %s is an ESXi host (%s), not a vCenter server'
                              % (self.config.endpoint.host, about.fullName))
        if version_tuple(version) < MIN_VCENTER_VERSION:
            raise ConfigError('vCenter %s runs version %s; at least %s is required'
                              % (self.config.endpoint.host, version,
                                 '.'.join(map(str, MIN_VCENTER_VERSION))))
        known = self.inventory(refresh=True)
        missing = set(self.config.clusters) - {c.name for c in known.clusters_named(
            self.config.clusters)}
        if missing:
            have = sorted(c.name for c in known.compute_resources.values() if c.is_cluster)
            raise ConfigError('vmware_cluster_name names clusters vCenter %s does not have: '
                              '%s (it has: %s)' % (self.config.endpoint.host,
                                                   ', '.join(sorted(missing)),
                                                   ', '.join(have) or 'none'))

    def register_extension(self) -> None:
        """Register our extension (named by backings' managedBy) unless vCenter has it."""
        extensions.ensure_registered(self.client, DRIVER_VERSION)

    def watch_tasks(self) -> None:
        """Make the task waits' collector now, so the first operation's wait needs no call
        for it."""
        self.client.watch_tasks()

    # -- inventory and placement -----------------------------------------------------------

    def inventory(self, refresh: bool = False,
                  max_age: float = INVENTORY_TTL_S) -> vinventory.Inventory:
        """The inventory snapshot, read again when asked or older than ``max_age``."""
        with self._lock:
            if refresh or self._inventory is None or self._age() > max_age:
                self._inventory = vinventory.read(self.client)
                self._read_at = time.monotonic()
                self._compatible = {}
            return self._inventory

    def _age(self) -> float:
        return time.monotonic() - self._read_at

    def place(self, request: placement.PlacementRequest,
              pool: str | None = None) -> placement.Placement:
        """Choose where a disk goes: in the pool named ``pool`` (else ``request.pool``) if
        given and it fits (the scheduler's choice), else where placement says, re-reading
        the inventory once if nothing fits."""
        pool = pool or request.pool
        chosen = self._place_in_pool(request, pool) if pool else None
        if chosen is not None:
            return chosen
        try:
            chosen = placement.select(self.inventory(), request)
        except placement.NoPlacement:
            chosen = placement.select(self.inventory(refresh=True), request)
        self._debit(chosen.datastore, request.size_bytes)
        return chosen

    def _place_in_pool(self, request: placement.PlacementRequest,
                       pool: str) -> placement.Placement | None:
        inventory = self.inventory()
        pod = pools.pod_named(inventory, pool)
        if pod is not None:
            return self._place_in_pod(request, pod)
        ref = pools.datastore_of(inventory, pool)
        if ref is None:
            return None     # the one-pool report, or a datastore vCenter no longer has
        return self._place_on(request, pool, frozenset([ref]))

    def _place_on(self, request: placement.PlacementRequest, pool: str,
                  stores: frozenset[str], debit: bool = True) -> placement.Placement | None:
        """Placement on one of ``stores`` (moref values) of the pool ``pool``, or None
        (logged) if none fits; ``debit``: its datastore is debited the request's size."""
        others = frozenset(self.inventory().datastores) - stores
        try:
            chosen = placement.select(self.inventory(), dataclasses.replace(
                request, exclude_datastores=request.exclude_datastores | others))
        except placement.NoPlacement as why:
            LOG.info('Pool %s cannot take %d bytes (%s): placing elsewhere', pool,
                     request.size_bytes, why)
            return None
        if debit:
            self._debit(chosen.datastore, request.size_bytes)
        return chosen

    def _place_in_pod(self, request: placement.PlacementRequest,
                      pod: vinventory.Pod) -> placement.Placement | None:
        """Placement in a datastore cluster on the member Storage DRS recommends first of
        those placement may use (one RecommendDatastores), or None (logged, the inventory
        read again) if none. The member is used in the driver's own CreateVM/CloneVM, not
        through ApplyStorageDrsRecommendation: one create path keeps the backing's identity,
        marks and folder, and the crash recovery that relies on them."""
        local = self._place_on(request, pod.name, frozenset(pod.datastores), debit=False)
        if local is None:
            return None
        answer = storage_drs.recommend(
            self.client, pod.ref, size_bytes=request.size_bytes,
            resource_pool=local.resource_pool,
            host=local.host.ref if request.hosts is not None else None)
        usable = frozenset(d.ref for d in placement.candidate_datastores(
            self.inventory(), request)) & frozenset(pod.datastores)
        chosen = next((ref for ref in answer.datastores if ref in usable), None)
        if chosen is None:      # our snapshot said a member fits: read what vCenter has
            LOG.info('Storage DRS places no disk of %d bytes in pool %s (%s): placing '
                     'elsewhere', request.size_bytes, pod.name,
                     answer.refused or 'it recommends only datastores placement may not use')
            self.inventory(refresh=True)
            return None
        return self._place_on(request, pod.name, frozenset([chosen]))

    def pool_name(self, datastore: str) -> str:
        """The name of the pool of a datastore (moref value) in the per-datastore report."""
        return pools.pool_names(self.inventory())[datastore]

    def _debit(self, datastore: vinventory.Datastore, size: int) -> None:
        with self._lock:
            current = self._inventory.datastores.get(datastore.ref)
            if current is not None:
                free = max(0, current.free_space - size)
                stores = dict(self._inventory.datastores)
                stores[datastore.ref] = dataclasses.replace(current, free_space=free)
                self._inventory = dataclasses.replace(self._inventory, datastores=stores)

    def placement_request(self, size_bytes: int, host: str | None = None,
                          **changes) -> placement.PlacementRequest:
        """A request within this backend's clusters and regex, for ``host`` if given."""
        hosts = frozenset([host]) if host else None
        return placement.PlacementRequest(size_bytes=size_bytes, hosts=hosts,
                                          clusters=self.config.clusters,
                                          datastore_regex=self.config.datastore_regex,
                                          **changes)

    def instance_host(self, instance: str) -> str:
        """The host running the VM ``instance`` (a moref value), read in one call with the
        inventory's datastores: placement for that host sees the mounts as they are now,
        not as the snapshot (up to ``INVENTORY_TTL_S`` old) has them."""
        try:
            host = self._read_host(instance)
        except errors.NotFound:    # the VM, or a datastore removed since the snapshot
            self.inventory(refresh=True)
            try:
                host = self._read_host(instance)
            except errors.NotFound:
                raise errors.NotFound('ManagedObjectNotFound', "the connector's instance %r "
                                      'is not a VM vCenter has: it must be the moref value of '
                                      'the instance VM' % instance) from None
        if host is None:
            raise errors.NotFound('ManagedObjectNotFound',
                                  'instance VM %s has no host (is it registered?)' % instance)
        if host not in self.inventory().hosts:
            self.inventory(refresh=True)
        return host

    def _read_host(self, instance: str) -> str | None:
        host, current = vinventory.vm_host(self.client, self.inventory(), instance)
        with self._lock:
            self._inventory = current
        return host

    def check_profile(self, profile: volume_type.VolumeProfile) -> None:
        """Raise InvalidExtraSpec if the profile's storage policy is not on this vCenter
        (policy names are cached: no call once a policy is known)."""
        if profile.storage_policy:
            try:
                self.policies.profile_id(profile.storage_policy)
            except errors.NotFound as error:
                raise volume_type.InvalidExtraSpec(
                    volume_type.PREFIX + 'storage_profile', profile.storage_policy,
                    expected=error.message) from None

    # -- backings --------------------------------------------------------------------------

    def create_backing(self, request: backings.BackingRequest, project_id: str,
                       instance: str | None = None) -> str:
        """Place and create a backing in the project's volume folder; its moref value."""
        return self.create_backing_in(request, project_id, instance)[0]

    def create_backing_in(self, request: backings.BackingRequest, project_id: str,
                          instance: str | None = None, pool: str | None = None
                          ) -> tuple[str, placement.Placement]:
        """``create_backing`` in the pool named ``pool`` if it fits: the backing's moref
        value and where it went."""
        policy = request.profile.storage_policy
        if policy:
            request = dataclasses.replace(request, profile_id=self.policies.profile_id(policy))
        host = self.instance_host(instance) if instance else None

        def create():
            where = self.place(self._backing_placement(request, host), pool)
            return self.backings.create_at(request, where,
                                           self.volume_folder(where, project_id)), where
        return self._afresh_if_gone(create)

    def _afresh_if_gone(self, make):
        """``make()``; once more with folders and inventory looked up afresh if it met a
        NotFound: a cached folder, pool or host was removed behind our back (a vCenter
        restored from a backup, an operator's clean-up)."""
        try:
            return make()
        except errors.NotFound as error:
            LOG.info('%s; looking up folders and inventory again', error)
            self.folders.forget()
            self.inventory(refresh=True)
        return make()

    def ensure_backing(self, request: backings.BackingRequest, project_id: str,
                       instance: str | None = None, in_use_by: str | None = None,
                       pool: str | None = None) -> tuple[str, str | None]:
        """The volume's backing, created if missing (in the pool named ``pool`` if it fits),
        on a datastore ``instance``'s host uses (moved there if it is elsewhere, unless the
        volume is in use by the instance ``in_use_by``): under the volume's lock, so
        concurrent first attaches, here or in another process, make one backing. Its moref
        value, and its datastore's (None: not known without a call, when no instance is
        given and the backing existed)."""
        with self.locks(vlocks.name('backing', request.volume_id)):
            found = self.backings.find(request.volume_id)
            if found is None:
                ref, where = self.create_backing_in(request, project_id, instance, pool)
                return ref, where.datastore.ref
            datastore = None
            if instance:
                datastore = self.make_reachable(found, request.size_bytes, instance,
                                                in_use_by)
            return found, datastore

    def start_import(self, request: backings.BackingRequest, folder_path: tuple[str, ...]
                     ) -> tuple[placement.Placement, leases.Lease]:
        """Place a backing for ``request`` in ``folder_path`` (below the datacenter's VM
        folder) and start importing it: where it goes and the NFC import lease."""
        policy = request.profile.storage_policy
        if policy:
            request = dataclasses.replace(request, profile_id=self.policies.profile_id(policy))

        def start():
            where = self.place(self._backing_placement(request, None))
            folder = self.folders.ensure(where.datacenter, folder_path)
            return where, self.backings.import_lease(request, where, folder)
        return self._afresh_if_gone(start)

    def volume_folder_path(self, project_id: str) -> tuple[str, ...]:
        return folders.volume_folder_path(project_id, self.config.volume_folder)

    def make_reachable(self, ref: str, size_bytes: int, instance: str,
                       in_use_by: str | None = None) -> str:
        """Move a backing whose datastore the instance's host cannot use (two calls when it
        can: the instance's host and the backing's datastores); the datastore (moref value)
        the instance's host reaches it on. A volume in use by the instance ``in_use_by`` is
        never moved: vSphere moves no disk a running VM has open (InUse)."""
        host = self.instance_host(instance)
        stores = self.inventory().datastores
        held = [ds for ds in self.backings.datastores(ref) if ds in stores]
        reachable = [ds for ds in held if host in stores[ds].usable_hosts()]
        if reachable:
            return reachable[0]
        if in_use_by:
            raise InUse('the volume of backing %s is in use by %s on datastore %s, '
                        'which host %s of instance %s does not mount; vSphere cannot move a '
                        'disk a running VM has open: detach it from %s first'
                        % (ref, in_use_by, ', '.join(stores[ds].name for ds in held) or '?',
                           self.inventory().hosts[host].name, instance, in_use_by))
        where = self.place(self.placement_request(size_bytes, host))
        self.backings.relocate(ref, where)
        return where.datastore.ref

    def _backing_placement(self, request: backings.BackingRequest,
                           host: str | None) -> placement.PlacementRequest:
        compatible = None
        if request.profile_id:
            compatible = self.compatible_datastores(request.profile_id)
        return self.placement_request(request.size_bytes, host, policy_datastores=compatible,
                                      pool=request.pool)

    def compatible_datastores(self, profile_id: str) -> frozenset[str]:
        """Datastores satisfying a storage policy, cached as long as the inventory."""
        stores = list(self.inventory().datastores)
        with self._lock:
            cached = self._compatible.get(profile_id)
        if cached is None:
            cached = self.policies.compatible(profile_id, stores)
            with self._lock:
                self._compatible[profile_id] = cached
        return cached

    def describe(self, ref: str,
                 identity: Mapping[str, str] | None = None) -> backings.Backing:
        """``Backings.describe``: a backing with its disk and datacenter, one call (NotFound
        unless it carries ``identity``, if given)."""
        return self.backings.describe(ref, identity)

    def datacenter_of(self, datastore: str) -> str:
        """The datacenter (moref value) of a datastore, the inventory read again once if it
        does not know the datastore."""
        store = self.inventory().datastores.get(datastore)
        if store is None:
            store = self.inventory(refresh=True).datastores[datastore]
        return store.datacenter

    def clone_backing(self, source: backings.Backing, request: backings.BackingRequest,
                      project_id: str, *, linked: bool = False, template: bool = False,
                      snapshot: str | None = None, grow_in_clone: bool = False) -> str:
        """Copy ``source`` into a new backing for ``request`` (a template for a snapshot):
        full copies go where placement says, linked ones stay on the source's datastore.
        A larger full copy is grown afterwards, or by the clone task if ``grow_in_clone``."""
        return self.clone_backing_in(source, request, project_id, linked=linked,
                                     template=template, snapshot=snapshot,
                                     grow_in_clone=grow_in_clone)[0]

    def clone_backing_in(self, source: backings.Backing, request: backings.BackingRequest,
                         project_id: str, *, pool: str | None = None, linked: bool = False,
                         template: bool = False, snapshot: str | None = None,
                         grow_in_clone: bool = False) -> tuple[str, placement.Placement]:
        """``clone_backing``, a full copy in the pool named ``pool`` if it fits: the new
        backing's moref value and where it went."""
        policy = request.profile.storage_policy
        if policy and not linked:
            request = dataclasses.replace(request, profile_id=self.policies.profile_id(policy))
        path = folders.volume_folder_path(project_id, self.config.volume_folder)
        if template:
            path += (SNAPSHOT_FOLDER,)
        grow = grow_in_clone and not linked and request.size_bytes > source.size_bytes

        def clone():
            if linked:
                exclude = frozenset(self.inventory().datastores) - {source.datastore}
                where = self.place(self.placement_request(0, exclude_datastores=exclude))
            else:
                where = self.place(self._backing_placement(request, None), pool)
            folder = self.folders.ensure(where.datacenter, path)
            return self.backings.clone_to(source, request, where, folder, template=template,
                                          snapshot=snapshot, linked=linked, grow=grow), where
        ref, where = self._afresh_if_gone(clone)
        if request.size_bytes > source.size_bytes and not template and not grow:
            try:
                self.extend(ref, request.size_bytes)
            except errors.VSphereError:
                self.backings.delete(ref)     # leave nothing half-made behind
                raise
        return ref, where

    def extend(self, ref: str, size_bytes: int,
               backing: backings.Backing | None = None) -> None:
        """Grow a backing's disk; if its datastore is full, move it where it fits first.
        ``backing`` is the backing as just described, if the caller has it (saves a call)."""
        backing = backing or self.describe(ref)
        try:
            self.backings.extend_in_place(backing, size_bytes)
        except errors.NoDiskSpace:
            where = self.place(self.placement_request(
                size_bytes, exclude_datastores=frozenset([backing.datastore])))
            LOG.info('Datastore of backing %s is full: moving it to %s to grow it', ref,
                     where.datastore.name)
            self.backings.relocate(ref, where)
            self.backings.extend_in_place(self.describe(ref), size_bytes)

    def move_to_project(self, ref: str, project_id: str, volume_folder: str | None = None,
                        backing: backings.Backing | None = None) -> None:
        """File a backing under a project's volume folder (``volume_folder`` if given, else
        this backend's): volume transfer, migration, manage. ``backing``: as just described,
        if the caller has it (saves a call)."""
        backing = backing or self.describe(ref)
        datacenter = self.inventory().datacenters[backing.datacenter]
        path = folders.volume_folder_path(project_id, volume_folder or self.config.volume_folder)
        self.backings.move(ref, self.folders.ensure(datacenter, path))

    def volume_folder(self, where: placement.Placement, project_id: str) -> str:
        """The project's volume folder in ``where``'s datacenter (created if missing)."""
        path = folders.volume_folder_path(project_id, self.config.volume_folder)
        return self.folders.ensure(where.datacenter, path)

    # -- capacity --------------------------------------------------------------------------

    def pools(self, single: str | None = None, refresh: bool = False) -> list[pools.Pool]:
        """The pools of this backend: one named ``single`` if given (the datastores
        placement may use), else one per datastore it has (``pools.per_datastore``);
        ``refresh`` re-reads the inventory unless it was read within ``STATS_MAX_AGE_S``."""
        inventory = self.inventory(max_age=STATS_MAX_AGE_S if refresh else INVENTORY_TTL_S)
        if single is not None:
            return [pools.single(single, inventory, self.placement_request(0))]
        return pools.per_datastore(inventory, self.placement_request(0))

    @property
    def vcenter_uuid(self) -> str:
        """The vCenter's instance UUID (from the service content: no call)."""
        return self.client.content.about.instanceUuid

    def close(self) -> None:
        self.client.close()


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split('.')[:2] if part.isdigit())
