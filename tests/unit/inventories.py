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

"""Hand-built inventories and placement requests for the pure tests: names in, morefs derived
('esx-01' -> 'host-esx-01', 'ds1' -> 'ds-ds1')."""

import re

from vmdk_volume.core.placement import PlacementRequest
from vmdk_volume.units import GiB
from vmdk_volume.vsphere.inventory import (
    ComputeResource,
    Datacenter,
    Datastore,
    Host,
    Inventory,
    Mount,
)


def host(name, cluster='c1', connected=True, maintenance=False) -> Host:
    """A host of cluster ``cluster``."""
    return Host('host-' + name, name, 'domain-' + cluster, connected, maintenance)


def ds(name, on=('esx-01',), free=100, capacity=1000, type='VMFS', accessible=True,
       maintenance=False, mounts=()) -> Datastore:
    """A datastore of ``capacity`` GiB with ``free`` GiB, usably mounted on hosts ``on``."""
    mounts = tuple(Mount('host-' + h) for h in on) + tuple(mounts)
    return Datastore('ds-' + name, name, type, capacity * GiB, int(free * GiB), accessible,
                     maintenance, mounts, 'datacenter-1')


def inventory(hosts, datastores) -> Inventory:
    """One datacenter with the clusters of ``hosts`` and ``datastores``."""
    clusters = {}
    for h in hosts:
        clusters.setdefault(h.compute_resource, []).append(h.ref)
    return Inventory(
        datacenters={'datacenter-1': Datacenter('datacenter-1', 'dc1', 'group-v1')},
        compute_resources={ref: ComputeResource(ref, ref.removeprefix('domain-'),
                                                'resgroup-' + ref.removeprefix('domain-'),
                                                is_cluster=True, hosts=tuple(refs))
                           for ref, refs in clusters.items()},
        hosts={h.ref: h for h in hosts},
        datastores={d.ref: d for d in datastores})


def request(size=10, hosts=None, **kwargs) -> PlacementRequest:
    """A request for ``size`` GiB; ``hosts`` by name."""
    hosts = frozenset('host-' + h for h in hosts) if hosts is not None else None
    if 'regex' in kwargs:
        kwargs['datastore_regex'] = re.compile(kwargs.pop('regex'))
    return PlacementRequest(size_bytes=int(size * GiB), hosts=hosts, **kwargs)


TWO_HOSTS = (host('esx-01'), host('esx-02'))
THREE_HOSTS = TWO_HOSTS + (host('esx-03'),)
TWO_CLUSTERS = (host('esx-01'), host('esx-02'), host('esx-11', 'c2'), host('esx-12', 'c2'))
