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
knows nothing of Cinder, folders or backings. The inventory is read once per
``INVENTORY_TTL_S`` (one call), read again when placement finds nothing fitting, and debited
locally on each placement so consecutive volumes spread across datastores.
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
from vmdk_volume.vsphere import errors, extensions, policies
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
        """Choose where a disk goes: on the datastore of the pool named ``pool`` if given
        and it fits (the scheduler's choice), else where placement says, re-reading the
        inventory once if nothing fits."""
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
        ref = pools.datastore_of(inventory, pool)
        if ref is None:
            return None     # the one-pool report, or a datastore vCenter no longer has
        others = frozenset(inventory.datastores) - {ref}
        try:
            chosen = placement.select(inventory, dataclasses.replace(
                request, exclude_datastores=request.exclude_datastores | others))
        except placement.NoPlacement as why:
            LOG.info('Pool %s cannot take %d bytes (%s): placing elsewhere', pool,
                     request.size_bytes, why)
            return None
        self._debit(chosen.datastore, request.size_bytes)
        return chosen

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
