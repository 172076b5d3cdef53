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

"""What the driver knows of a vCenter's inventory: typed values, and how vCenter fills them.

``Inventory`` is a snapshot of datacenters, compute resources (clusters and stand-alone hosts),
hosts, datastores with their mounts and datastore clusters (StoragePod): everything placement
decides on. ``filter_spec`` names what is read: a walk from the root folder to datacenters,
their datastores and datastore folders, and the compute resources and hosts of their host
folders (never the VM folders), only the properties of ``KINDS``. ``entered`` and
``changed`` make and update the typed values from the properties a property collector reports
(``inventory_watch`` keeps them current).
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


def _text(value) -> str:
    return value or ''


def _number(value) -> int:
    return int(value or 0)


def _true(value) -> bool:
    return value == 'true'


def _mounts(value) -> tuple[Mount, ...]:
    return tuple(Mount(host=m['key'], mounted=m['mountInfo'].get('mounted') != 'false',
                       accessible=m['mountInfo'].get('accessible') != 'false',
                       read_write=m['mountInfo'].get('accessMode', 'readWrite') == 'readWrite')
                 for m in value or ())


# Per kind of object: the field of Inventory holding them, and each property read (decoded
# as ``update_sets.value`` decodes it) with the field of the typed value it sets and how.
# A datacenter's ``datastore`` sets each of its datastores' ``datacenter`` (``DATASTORES``).
KINDS = {
    'Datacenter': ('datacenters', Datacenter, {
        'name': ('name', _text), 'vmFolder': ('vm_folder', _text)}),
    'ComputeResource': ('compute_resources', ComputeResource, {
        'name': ('name', _text), 'resourcePool': ('resource_pool', _text),
        'host': ('hosts', lambda refs: tuple(refs or ()))}),
    'HostSystem': ('hosts', Host, {
        'name': ('name', _text), 'parent': ('compute_resource', _text),
        'runtime.connectionState': ('connected', lambda state: state == 'connected'),
        'runtime.inMaintenanceMode': ('in_maintenance', _true)}),
    'Datastore': ('datastores', Datastore, {
        'name': ('name', _text), 'summary.type': ('type', _text),
        'summary.capacity': ('capacity', _number), 'summary.freeSpace': ('free_space', _number),
        'summary.uncommitted': ('uncommitted', _number),
        'summary.accessible': ('accessible', _true),
        'summary.maintenanceMode': ('in_maintenance',
                                    lambda mode: (mode or 'normal') != 'normal'),
        'host': ('mounts', _mounts)}),
    'StoragePod': ('pods', Pod, {
        'name': ('name', _text), 'childEntity': ('datastores', lambda refs: tuple(refs or ()))}),
}
DATASTORES = 'datastore'
EMPTY = Inventory(datacenters={}, compute_resources={}, hosts={}, datastores={})


def kind_of(type_name: str) -> str:
    """The kind (a key of ``KINDS``) of a managed type: clusters are compute resources."""
    return 'ComputeResource' if type_name.endswith('ComputeResource') else type_name


def entered(type_name: str, ref: str, changes: Mapping):
    """The typed value of an object as it entered the view, from its properties."""
    _, cls, paths = KINDS[kind_of(type_name)]
    fields = {field: convert(changes.get(path)) for path, (field, convert) in paths.items()}
    if cls is ComputeResource:
        fields['is_cluster'] = type_name == 'ClusterComputeResource'
    return cls(ref=ref, **fields)


def changed(value, type_name: str, changes: Mapping):
    """``value`` with the properties that changed applied (others are kept as they are)."""
    paths = KINDS[kind_of(type_name)][2]
    fields = {paths[path][0]: paths[path][1](new) for path, new in changes.items()
              if path in paths}
    return dataclasses.replace(value, **fields) if fields else value


def filter_spec(client):
    """What the driver watches: from the root folder, the datacenters, their datastores and
    the compute resources and hosts of their host folders (never the VM folders), with only
    the properties of ``KINDS``."""
    paths = {kind: tuple(props) for kind, (_, _, props) in KINDS.items()}
    paths['Datacenter'] += (DATASTORES,)
    return properties.filter_spec(client, [(client.content.rootFolder, _traversals(client))],
                                  paths)


def vm_host(client, vm: str) -> str | None:
    """The host running the VM ``vm``, a moref value (None if it has none): one call.
    ``errors.NotFound`` if the VM is gone."""
    found = properties.fetch(client, [client.ref('VirtualMachine', vm)], ['runtime.host'])
    if not found:
        raise errors.NotFound('ManagedObjectNotFound', 'VM %s is gone' % vm)
    return getattr(found[0].get('runtime.host'), 'value', None)


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
