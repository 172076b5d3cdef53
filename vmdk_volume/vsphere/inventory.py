"""What the driver knows of a vCenter's inventory: typed values, and the one read that fills them.

``Inventory`` is a snapshot of datacenters, compute resources (clusters and stand-alone hosts),
hosts and datastores with their mounts: everything placement decides on. ``read`` fills it with
one RetrievePropertiesEx over a ContainerView kept for the session, asking only for the
properties placement needs.
"""

import dataclasses
import enum
from collections.abc import Mapping

from vmdk_volume.vsphere import properties

GiB = 1024 ** 3


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
class Inventory:
    """A snapshot of what placement decides on, keyed by moref value."""

    datacenters: Mapping[str, Datacenter]
    compute_resources: Mapping[str, ComputeResource]
    hosts: Mapping[str, Host]
    datastores: Mapping[str, Datastore]

    def clusters_named(self, names) -> list[ComputeResource]:
        wanted = set(names)
        return [c for c in self.compute_resources.values() if c.is_cluster and c.name in wanted]
