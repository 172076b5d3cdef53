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

"""One backend: a vCenter, its inventory and placement, and what the driver keeps about
them between calls.

``Backend`` holds the vSphere client, checks the vCenter serves the configuration, and is
the placement the collaborators ``wiring`` makes are given (``provisioning.Placer``): it
knows nothing of Cinder, folders or backings. The inventory is kept by a property
collector's updates (``vsphere.inventory_watch``): placement brings it up to date before each
choice (one call: what changed since), other readers take it as last seen (up to
``INVENTORY_TTL_S`` old). Each placement debits its datastore locally, so consecutive volumes
spread across datastores until vCenter reports the datastore's free space.
"""

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator

from oslo_log import log as logging

from vmdk_volume import DRIVER_VERSION
from vmdk_volume.core import placement, pools, volume_type
from vmdk_volume.core.config import BackendConfig, ConfigError
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, extensions, inventory_watch, policies, storage_drs
from vmdk_volume.vsphere import inventory as vinventory

LOG = logging.getLogger(__name__)
INVENTORY_TTL_S = 120
STATS_MAX_AGE_S = 30     # Cinder asks for fresh stats after every delete: don't re-read each
MIN_VCENTER_VERSION = (6, 5)


class Backend:
    """A vCenter used as one Cinder backend (see the module docstring)."""

    def __init__(self, config: BackendConfig, client: vclient.Client):
        self.config = config
        self.client = client
        self.policies = policies.Policies(client)   # policy names, compatible datastores
        self._lock = threading.Lock()
        self._inventory: vinventory.Inventory | None = None
        self._watch = inventory_watch.InventoryWatch(client)
        self._read_at = 0.0
        self._compatible: dict[str, frozenset[str]] = {}   # policy id -> datastores

    @classmethod
    def connect(cls, config: BackendConfig, attempts: int | None = None) -> 'Backend':
        """Log in (``attempts`` times at most if given), check the vCenter version and the
        configured clusters."""
        backend = cls(config, vclient.Client.connect(config.endpoint, attempts))
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
        """The inventory snapshot, brought up to date (one call) when asked or older than
        ``max_age``; the storage policies' datastores are then looked up again too."""
        with self._lock:
            if refresh or self._inventory is None or self._age() > max_age:
                self._inventory = self._watch.refresh(self._inventory)
                self._read_at = time.monotonic()
                self._compatible = {}
            return self._inventory

    def current_inventory(self) -> vinventory.Inventory:
        """The inventory as vCenter has it now (what changed since the last look applied:
        one call), as placement decides on it."""
        with self._lock:
            self._inventory = self._watch.refresh(self._inventory)
            return self._inventory

    def _age(self) -> float:
        return time.monotonic() - self._read_at

    def place(self, request: placement.PlacementRequest,
              pool: str | None = None) -> placement.Placement:
        """Choose where a disk goes, on the inventory as vCenter has it now: in the pool
        named ``pool`` (else ``request.pool``) if given and it fits (the scheduler's
        choice), else where placement says."""
        pool = pool or request.pool
        inventory = self.current_inventory()
        chosen = self._place_in_pool(inventory, request, pool) if pool else None
        if chosen is None:
            chosen = placement.select(inventory, request)
        self._debit(chosen.datastore, request.size_bytes)
        return chosen

    def _place_in_pool(self, inventory: vinventory.Inventory,
                       request: placement.PlacementRequest,
                       pool: str) -> placement.Placement | None:
        pod = pools.pod_named(inventory, pool)
        if pod is not None:
            return self._place_in_pod(inventory, request, pod)
        ref = pools.datastore_of(inventory, pool)
        if ref is None:
            return None     # the one-pool report, or a datastore vCenter no longer has
        return self._place_on(inventory, request, pool, frozenset([ref]))

    @staticmethod
    def _place_on(inventory: vinventory.Inventory, request: placement.PlacementRequest,
                  pool: str, stores: frozenset[str]) -> placement.Placement | None:
        """Placement on one of ``stores`` (moref values) of the pool ``pool``, or None
        (logged) if none fits."""
        others = frozenset(inventory.datastores) - stores
        try:
            return placement.select(inventory, dataclasses.replace(
                request, exclude_datastores=request.exclude_datastores | others))
        except placement.NoPlacement as why:
            LOG.info('Pool %s cannot take %d bytes (%s): placing elsewhere', pool,
                     request.size_bytes, why)
            return None

    def _place_in_pod(self, inventory: vinventory.Inventory,
                      request: placement.PlacementRequest,
                      pod: vinventory.Pod) -> placement.Placement | None:
        """Placement in a datastore cluster on the member Storage DRS recommends first of
        those placement may use (one RecommendDatastores), or None (logged) if none. The
        member is used in the driver's own CreateVM/CloneVM, not through
        ApplyStorageDrsRecommendation: one create path keeps the backing's identity, marks
        and folder, and the crash recovery that relies on them."""
        local = self._place_on(inventory, request, pod.name, frozenset(pod.datastores))
        if local is None:
            return None
        answer = storage_drs.recommend(
            self.client, pod.ref, size_bytes=request.size_bytes,
            resource_pool=local.resource_pool,
            host=local.host.ref if request.hosts is not None else None)
        usable = frozenset(d.ref for d in placement.candidate_datastores(
            inventory, request)) & frozenset(pod.datastores)
        chosen = next((ref for ref in answer.datastores if ref in usable), None)
        if chosen is None:
            LOG.info('Storage DRS places no disk of %d bytes in pool %s (%s): placing '
                     'elsewhere', request.size_bytes, pod.name,
                     answer.refused or 'it recommends only datastores placement may not use')
            return None
        return self._place_on(inventory, request, pod.name, frozenset([chosen]))

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
        """The host running the VM ``instance`` (a moref value): one call (placement for
        that host brings the mounts up to date itself)."""
        try:
            host = vinventory.vm_host(self.client, instance)
        except errors.NotFound:
            raise errors.NotFound('ManagedObjectNotFound', "the connector's instance %r "
                                  'is not a VM vCenter has: it must be the moref value of '
                                  'the instance VM' % instance) from None
        if host is None:
            raise errors.NotFound('ManagedObjectNotFound',
                                  'instance VM %s has no host (is it registered?)' % instance)
        if host not in self.inventory().hosts:
            self.current_inventory()
        return host

    def check_profile(self, profile: volume_type.VolumeProfile) -> None:
        """Raise PolicyNotHere if the profile's storage policy is not on this vCenter
        (policy names are cached: no call once a policy is known)."""
        if profile.storage_policy:
            try:
                self.policies.profile_id(profile.storage_policy)
            except errors.NotFound as error:
                raise volume_type.PolicyNotHere(
                    volume_type.PREFIX + 'storage_profile', profile.storage_policy,
                    expected=error.message) from None

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

    def datacenter_of(self, datastore: str) -> str:
        """The datacenter (moref value) of a datastore, the inventory read again once if it
        does not know the datastore."""
        store = self.inventory().datastores.get(datastore)
        if store is None:
            store = self.inventory(refresh=True).datastores[datastore]
        return store.datacenter

    # -- capacity --------------------------------------------------------------------------

    def pools(self, single: str | None = None, refresh: bool = False) -> list[pools.Pool]:
        """The pools of this backend: one named ``single`` if given (the datastores
        placement may use), else one per datastore it has (``pools.per_datastore``);
        ``refresh`` brings the inventory up to date unless that was done within
        ``STATS_MAX_AGE_S``."""
        inventory = self.inventory(max_age=STATS_MAX_AGE_S if refresh else INVENTORY_TTL_S)
        if single is not None:
            return [pools.single(single, inventory, self.placement_request(0))]
        return pools.per_datastore(inventory, self.placement_request(0))

    @property
    def vcenter_uuid(self) -> str:
        """The vCenter's instance UUID (from the service content: no call)."""
        return self.client.content.about.instanceUuid

    def close(self) -> None:
        with self._lock:
            self._watch.close()
        self.client.close()


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split('.')[:2] if part.isdigit())
