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

"""What the driver knows of a vCenter's inventory: typed values, and the one read that fills them.

``Inventory`` is a snapshot of datacenters, compute resources (clusters and stand-alone hosts),
hosts, datastores with their mounts and datastore clusters (StoragePod): everything placement
decides on. ``read`` fills it with one RetrievePropertiesEx walking from the root folder to
datacenters, their datastores and datastore folders, and the compute resources and hosts of
their host folders (never the VM folders), asking only for the properties placement needs. It
needs no session object such as a view, so it survives a session renewal and costs no call
to set up.
"""

import dataclasses
import enum
from collections.abc import Mapping

from vmdk_volume.vsphere import errors, properties


class DatastoreType(enum.StrEnum):
    """summary.type values; only these can hold volumes."""

    VMFS = 'VMFS'
    NFS = 'NFS'
    NFS41 = 'NFS41'
    VSAN = 'vsan'
    VVOL = 'VVOL'


@dataclasses.dataclass(frozen=True)
class Mount:
    """A datastore as one host sees it."""

    host: str                  # host moref value
    mounted: bool = True
    accessible: bool = True
    read_write: bool = True

    @property
    def usable(self) -> bool:
        return self.mounted and self.accessible and self.read_write


@dataclasses.dataclass(frozen=True)
class Datastore:
    ref: str                   # moref value
    name: str
    type: str                  # summary.type, as vCenter reports it
    capacity: int              # bytes
    free_space: int            # bytes
    accessible: bool = True
    in_maintenance: bool = False
    mounts: tuple[Mount, ...] = ()
    datacenter: str = ''       # datacenter moref value
    uncommitted: int = 0       # bytes its thin disks may still grow by (summary.uncommitted)

    @property
    def used_fraction(self) -> float:
        return 1.0 - self.free_space / self.capacity if self.capacity else 1.0

    def usable_hosts(self) -> frozenset[str]:
        return frozenset(m.host for m in self.mounts if m.usable)


@dataclasses.dataclass(frozen=True)
class Host:
    ref: str
    name: str
    compute_resource: str      # moref value of its cluster or stand-alone ComputeResource
    connected: bool = True
    in_maintenance: bool = False

    @property
    def usable(self) -> bool:
        return self.connected and not self.in_maintenance


@dataclasses.dataclass(frozen=True)
class ComputeResource:
    """A cluster, or the ComputeResource of a stand-alone host."""

    ref: str
    name: str
    resource_pool: str         # moref value of its root resource pool
    is_cluster: bool
    hosts: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Datacenter:
    ref: str
    name: str
    vm_folder: str             # moref value


@dataclasses.dataclass(frozen=True)
class Pod:
    """A datastore cluster (StoragePod)."""

    ref: str
    name: str
    datastores: tuple[str, ...] = ()     # its members' moref values


@dataclasses.dataclass(frozen=True)
class Inventory:
    """A snapshot of what placement decides on, keyed by moref value."""

    datacenters: Mapping[str, Datacenter]
    compute_resources: Mapping[str, ComputeResource]
    hosts: Mapping[str, Host]
    datastores: Mapping[str, Datastore]
    pods: Mapping[str, Pod] = dataclasses.field(default_factory=dict)

    def clusters_named(self, names) -> list[ComputeResource]:
        wanted = set(names)
        return [c for c in self.compute_resources.values() if c.is_cluster and c.name in wanted]


_PATHS = {
    'Datacenter': ('name', 'vmFolder', 'datastore'),
    'ComputeResource': ('name', 'resourcePool', 'host'),
    'HostSystem': ('name', 'parent', 'runtime.connectionState', 'runtime.inMaintenanceMode'),
    'Datastore': ('name', 'summary.type', 'summary.capacity', 'summary.freeSpace',
                  'summary.uncommitted', 'summary.accessible', 'summary.maintenanceMode',
                  'host'),
    'StoragePod': ('name', 'childEntity'),
}


def read(client) -> Inventory:
    """Read the inventory of the vCenter in one call."""
    by_type: dict[str, list[properties.Item]] = {t: [] for t in _PATHS}
    for item in properties.traverse(client, client.content.rootFolder, _traversals(client),
                                    _PATHS):
        kind = 'ComputeResource' if item.ref._type.endswith('ComputeResource') else item.ref._type
        if kind in by_type:
            by_type[kind].append(item)
    datacenter_of = {ds.value: dc.value for dc in by_type['Datacenter']
                     for ds in _refs(dc.get('datastore'))}
    return Inventory(
        datacenters={i.value: Datacenter(i.value, i.get('name'), i.get('vmFolder').value)
                     for i in by_type['Datacenter']},
        compute_resources={i.value: _compute_resource(i) for i in by_type['ComputeResource']},
        hosts={i.value: _host(i) for i in by_type['HostSystem']},
        datastores={i.value: _datastore(i, datacenter_of.get(i.value, ''))
                    for i in by_type['Datastore']},
        pods={i.value: Pod(i.value, i.get('name'), tuple(r.value for r in _refs(
            i.get('childEntity')) if r._type == 'Datastore')) for i in by_type['StoragePod']})


def vm_host(client, inventory: Inventory, vm: str) -> tuple[str | None, Inventory]:
    """The host running the VM ``vm``, a moref value (None if it has none), and ``inventory``
    with its datastores as vCenter reports them now (mounts, space, state): one call.
    ``errors.NotFound`` if the VM or one of the datastores is gone."""
    stores = [client.ref('Datastore', ref) for ref in inventory.datastores]
    found = properties.fetch_typed(client, [client.ref('VirtualMachine', vm), *stores], {
        'VirtualMachine': ('runtime.host',), 'Datastore': _PATHS['Datastore']})
    vms = [i for i in found if i.ref._type == 'VirtualMachine']
    if not vms:
        raise errors.NotFound('ManagedObjectNotFound', 'VM %s is gone' % vm)
    host = vms[0].get('runtime.host')
    current = {i.value: _datastore(i, inventory.datastores[i.value].datacenter)
               for i in found if i.ref._type == 'Datastore'}
    return (getattr(host, 'value', None),
            dataclasses.replace(inventory, datastores={**inventory.datastores, **current}))


def virtual_machines(client, paths) -> list[properties.Item]:
    """Every VM of the vCenter (templates included) with ``paths``: one call, walking
    folders and datacenters' VM folders."""
    def traversal(name, type_name, path):
        return client.create('TraversalSpec', name=name, type=type_name, path=path, skip=False,
                             selectSet=[client.create('SelectionSpec', name='children'),
                                        client.create('SelectionSpec', name='vmFolder')])
    items = properties.traverse(client, client.content.rootFolder,
                                [traversal('children', 'Folder', 'childEntity'),
                                 traversal('vmFolder', 'Datacenter', 'vmFolder')],
                                {'VirtualMachine': paths})
    return [item for item in items if item.ref._type == 'VirtualMachine']


def _traversals(client) -> list:
    """Folders' children (recursively), datacenters' host and datastore folders (where
    datastore clusters are) and datastores, compute resources' hosts."""
    def traversal(name, type_name, path, *then):
        return client.create('TraversalSpec', name=name, type=type_name, path=path, skip=False,
                             selectSet=[client.create('SelectionSpec', name=n) for n in then])
    return [traversal('children', 'Folder', 'childEntity',
                      'children', 'hostFolder', 'datastoreFolder', 'datastores', 'hosts'),
            traversal('hostFolder', 'Datacenter', 'hostFolder', 'children'),
            traversal('datastoreFolder', 'Datacenter', 'datastoreFolder', 'children'),
            traversal('datastores', 'Datacenter', 'datastore'),
            traversal('hosts', 'ComputeResource', 'host')]


def _refs(array) -> list:
    return list(getattr(array, 'ManagedObjectReference', None) or [])


def _compute_resource(item: properties.Item) -> ComputeResource:
    return ComputeResource(ref=item.value, name=item.get('name'),
                           resource_pool=item.get('resourcePool').value,
                           is_cluster=item.ref._type == 'ClusterComputeResource',
                           hosts=tuple(h.value for h in _refs(item.get('host'))))


def _host(item: properties.Item) -> Host:
    return Host(ref=item.value, name=item.get('name'), compute_resource=item.get('parent').value,
                connected=item.get('runtime.connectionState') == 'connected',
                in_maintenance=bool(item.get('runtime.inMaintenanceMode')))


def _datastore(item: properties.Item, datacenter: str) -> Datastore:
    mounts = getattr(item.get('host'), 'DatastoreHostMount', None) or []
    return Datastore(
        ref=item.value, name=item.get('name'), type=item.get('summary.type'),
        capacity=int(item.get('summary.capacity') or 0),
        free_space=int(item.get('summary.freeSpace') or 0),
        uncommitted=int(item.get('summary.uncommitted') or 0),
        accessible=bool(item.get('summary.accessible')),
        in_maintenance=item.get('summary.maintenanceMode', 'normal') != 'normal',
        mounts=tuple(_mount(m) for m in mounts), datacenter=datacenter)


def _mount(host_mount) -> Mount:
    info = host_mount.mountInfo
    return Mount(host=host_mount.key.value, mounted=getattr(info, 'mounted', True) is not False,
                 accessible=getattr(info, 'accessible', True) is not False,
                 read_write=getattr(info, 'accessMode', 'readWrite') == 'readWrite')
