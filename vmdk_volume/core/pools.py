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

"""Capacity as Cinder's scheduler reads it: pools over an inventory, a pure computation.

``per_datastore`` makes each datastore the backend has (``placement.backend_verdicts``: of a
supported type, matching the regex, mounted on a host of its clusters) one pool named after
it, with vCenter's figures: total and free space, provisioned = capacity - free + uncommitted.
A datastore placement would not use (in maintenance, inaccessible, mounted read-write on no
usable host) is a pool that is ``down``, with the reason. ``single`` is the one pool the
in-tree driver reports: the datastores placement may use, summed. A pool name is the
datastore's name, or ``<datacenter>/<datastore>`` where two datacenters have a datastore of
that name.

A datastore cluster (StoragePod) with members the backend has is one pool in place of them,
named after it (qualified by its datacenter likewise): the figures of its members placement
may use, summed (vCenter's pod summary sums them all, members in maintenance too); ``down``
when no member may take a volume, with each member's reason. Placement into it asks Storage
DRS (``Backend.place``).
"""

import collections
import dataclasses

from vmdk_volume.core import placement
from vmdk_volume.vsphere.inventory import Datastore, Inventory, Pod


@dataclasses.dataclass(frozen=True)
class Pool:
    name: str
    total: int                 # bytes
    free: int                  # bytes
    provisioned: int           # bytes: capacity - free + uncommitted
    down: str | None = None    # why it takes no new volume; None: up


def per_datastore(inventory: Inventory, request: placement.PlacementRequest) -> list[Pool]:
    """One pool per datastore the backend has outside datastore clusters, and one per
    datastore cluster with members it has, by name."""
    names, pod_of = pool_names(inventory), pods_of(inventory)
    members: dict[str, list[placement.Verdict]] = collections.defaultdict(list)
    pools = []
    for v in placement.backend_verdicts(inventory, request):
        if v.datastore.ref in pod_of:
            members[pod_of[v.datastore.ref].ref].append(v)
        else:
            pools.append(Pool(names[v.datastore.ref], v.datastore.capacity,
                              v.datastore.free_space, _provisioned(v.datastore), v.excluded_by))
    pod_names = _pod_names(inventory)
    pools += [_pod_pool(pod_names[pod], verdicts) for pod, verdicts in members.items()]
    return sorted(pools, key=lambda p: p.name)


def _pod_pool(name: str, verdicts: list[placement.Verdict]) -> Pool:
    usable = [v.datastore for v in verdicts if v.excluded_by is None]
    down = None if usable else 'no member can take a volume (%s)' % ', '.join(
        '%s: %s' % (v.datastore.name, v.excluded_by)
        for v in sorted(verdicts, key=lambda v: v.datastore.name))
    return Pool(name, sum(d.capacity for d in usable), sum(d.free_space for d in usable),
                sum(_provisioned(d) for d in usable), down)


def single(name: str, inventory: Inventory, request: placement.PlacementRequest) -> Pool:
    """The datastores placement may use as one pool called ``name``."""
    stores = placement.candidate_datastores(inventory, request)
    return Pool(name, sum(d.capacity for d in stores), sum(d.free_space for d in stores),
                sum(_provisioned(d) for d in stores))


def pool_names(inventory: Inventory) -> dict[str, str]:
    """The pool name of every datastore (moref value -> name): its datastore cluster's for
    a member of one."""
    pod_of, pod_names = pods_of(inventory), _pod_names(inventory)
    names = _qualified(inventory, [(d.ref, d.name, d.datacenter)
                                   for d in inventory.datastores.values()])
    return {ref: pod_names[pod_of[ref].ref] if ref in pod_of else name
            for ref, name in names.items()}


def _pod_names(inventory: Inventory) -> dict[str, str]:
    """The pool name of every datastore cluster (moref value -> name)."""
    stores = inventory.datastores
    return _qualified(inventory, [
        (pod.ref, pod.name, next((stores[d].datacenter for d in pod.datastores if d in stores),
                                 '')) for pod in inventory.pods.values()])


def _qualified(inventory: Inventory, named: list[tuple[str, str, str]]) -> dict[str, str]:
    """Names of (ref, name, datacenter) entries, as ``<datacenter>/<name>`` where two
    datacenters have one of that name."""
    counts = collections.Counter(name for _, name, _ in named)
    datacenters = inventory.datacenters
    return {ref: name if counts[name] == 1 else '%s/%s' % (
        getattr(datacenters.get(datacenter), 'name', datacenter), name)
        for ref, name, datacenter in named}


def pods_of(inventory: Inventory) -> dict[str, Pod]:
    """The datastore cluster of each member datastore (moref value -> pod)."""
    return {ref: pod for pod in inventory.pods.values() for ref in pod.datastores}


def datastore_of(inventory: Inventory, pool: str) -> str | None:
    """The datastore (moref value) of the pool named ``pool``, or None (no such pool, or a
    datastore cluster's)."""
    pod_of = pods_of(inventory)
    return next((ref for ref, name in pool_names(inventory).items()
                 if name == pool and ref not in pod_of), None)


def pod_named(inventory: Inventory, pool: str) -> Pod | None:
    """The datastore cluster of the pool named ``pool``, or None."""
    return next((inventory.pods[ref] for ref, name in _pod_names(inventory).items()
                 if name == pool), None)


def _provisioned(store: Datastore) -> int:
    return max(0, store.capacity - store.free_space) + store.uncommitted
