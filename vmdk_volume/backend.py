"""One backend: a vCenter and what the driver keeps about it between calls.

``Backend`` wires the vSphere client to the inventory cache, placement, folders and backings,
and knows nothing of Cinder: the driver, the CLI and the tests all use it. The inventory is
read once per ``INVENTORY_TTL_S`` (one call), read again when placement finds nothing fitting,
and debited locally on each placement so consecutive volumes spread across datastores.
"""

import dataclasses
import threading
import time

from vmdk_volume import DRIVER_VERSION, backings, folders, placement
from vmdk_volume.options import BackendConfig, ConfigError
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, policies, properties, specs
from vmdk_volume.vsphere import inventory as vinventory

INVENTORY_TTL_S = 120
STATS_MAX_AGE_S = 30     # Cinder asks for fresh stats after every delete: don't re-read each
MIN_VCENTER_VERSION = (6, 5)


class Backend:
    """A vCenter used as one Cinder backend (see the module docstring)."""

    def __init__(self, config: BackendConfig, client: vclient.Client):
        self.config = config
        self.client = client
        self.folders = folders.Folders(client)
        self.backings = backings.Backings(client)
        self.policies = policies.Policies(client)
        self._lock = threading.Lock()
        self._view = None
        self._inventory: vinventory.Inventory | None = None
        self._read_at = 0.0
        self._compatible: dict[str, frozenset[str]] = {}   # policy id -> datastores

    @classmethod
    def connect(cls, config: BackendConfig) -> 'Backend':
        """Log in, check the vCenter version and the configured clusters."""
        backend = cls(config, vclient.Client.connect(config.endpoint))
        backend.check()
        return backend

    def check(self) -> None:
        """Raise ConfigError if this vCenter cannot serve the configuration."""
        about = self.client.content.about
        version = self.config.host_version or about.version
        if about.apiType != 'VirtualCenter':
            raise ConfigError('vmware_host_ip %s is an ESXi host (%s), not a vCenter server'
                              % (self.config.endpoint.host, about.fullName))
        if _version_tuple(version) < MIN_VCENTER_VERSION:
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
        manager = self.client.content.extensionManager
        if self.client.call('FindExtension', manager, extensionKey=specs.EXTENSION_KEY):
            return
        try:
            self.client.call('RegisterExtension', manager,
                             extension=specs.extension(self.client, DRIVER_VERSION))
        except errors.Fault as fault:   # registered meanwhile by another cinder-volume
            if fault.name not in ('AlreadyExists', 'InvalidArgument'):
                raise

    # -- inventory and placement -----------------------------------------------------------

    def inventory(self, refresh: bool = False,
                  max_age: float = INVENTORY_TTL_S) -> vinventory.Inventory:
        """The inventory snapshot, read again when asked or older than ``max_age``."""
        with self._lock:
            if refresh or self._inventory is None or self._age() > max_age:
                if self._view is None:
                    self._view = properties.container_view(
                        self.client, self.client.content.rootFolder, vinventory.VIEW_TYPES)
                self._inventory = vinventory.read(self.client, self._view)
                self._read_at = time.monotonic()
                self._compatible = {}
            return self._inventory

    def _age(self) -> float:
        return time.monotonic() - self._read_at

    def place(self, request: placement.PlacementRequest) -> placement.Placement:
        """Choose where a disk goes, re-reading the inventory once if nothing fits."""
        try:
            chosen = placement.select(self.inventory(), request)
        except placement.NoPlacement:
            chosen = placement.select(self.inventory(refresh=True), request)
        self._debit(chosen.datastore, request.size_bytes)
        return chosen

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
        """The host running the VM ``instance`` (a moref value): one call."""
        vm = self.client.ref('VirtualMachine', instance)
        host = properties.fetch_one(self.client, vm, ['runtime.host']).get('runtime.host')
        if host is None:
            raise errors.NotFound('ManagedObjectNotFound',
                                  'instance VM %s has no host (is it registered?)' % instance)
        if host.value not in self.inventory().hosts:
            self.inventory(refresh=True)
        return host.value

    # -- backings --------------------------------------------------------------------------

    def create_backing(self, request: backings.BackingRequest, project_id: str,
                       instance: str | None = None) -> str:
        """Place and create a backing in the project's volume folder; its moref value."""
        policy = request.profile.storage_policy
        if policy:
            request = dataclasses.replace(request, profile_id=self.policies.profile_id(policy))
        host = self.instance_host(instance) if instance else None
        for attempt in (1, 2):
            where = self.place(self._backing_placement(request, host))
            try:
                return self.backings.create(request, where, self._folder(where, project_id))
            except errors.NotFound:
                if attempt == 2:
                    raise
                # A cached folder, pool or host was removed behind our back: look again.
                self.folders.forget(where.datacenter.vm_folder)
                self.inventory(refresh=True)

    def make_reachable(self, ref: str, size_bytes: int, instance: str) -> None:
        """Move a backing whose datastore the instance's host cannot use (two calls when it
        can: the instance's host and the backing's datastores)."""
        host = self.instance_host(instance)
        stores = self.inventory().datastores
        if any(host in stores[ds].usable_hosts() for ds in self.backings.datastores(ref)
               if ds in stores):
            return
        where = self.place(self.placement_request(size_bytes, host))
        self.backings.relocate(ref, where)

    def _backing_placement(self, request: backings.BackingRequest,
                           host: str | None) -> placement.PlacementRequest:
        compatible = None
        if request.profile_id:
            compatible = self._compatible_datastores(request.profile_id)
        return self.placement_request(request.size_bytes, host, policy_datastores=compatible)

    def _compatible_datastores(self, profile_id: str) -> frozenset[str]:
        """Datastores satisfying a storage policy, cached as long as the inventory."""
        stores = list(self.inventory().datastores)
        with self._lock:
            cached = self._compatible.get(profile_id)
        if cached is None:
            cached = self.policies.compatible(profile_id, stores)
            with self._lock:
                self._compatible[profile_id] = cached
        return cached

    def _folder(self, where: placement.Placement, project_id: str) -> str:
        path = folders.volume_folder_path(project_id, self.config.volume_folder)
        return self.folders.ensure(where.datacenter.vm_folder, path)

    # -- capacity --------------------------------------------------------------------------

    def capacity(self, refresh: bool = False) -> tuple[int, int]:
        """(total, free) bytes of the datastores placement may use; ``refresh`` re-reads
        the inventory unless it was read within ``STATS_MAX_AGE_S``."""
        inventory = self.inventory(max_age=STATS_MAX_AGE_S if refresh else INVENTORY_TTL_S)
        stores = placement.candidate_datastores(inventory, self.placement_request(0))
        return sum(d.capacity for d in stores), sum(d.free_space for d in stores)

    def close(self) -> None:
        self.client.close()


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split('.')[:2] if part.isdigit())
