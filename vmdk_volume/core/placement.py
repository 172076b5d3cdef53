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

"""Where a disk goes: a pure choice of host, resource pool and datastore over an inventory.

The rules are the in-tree driver's (UPSTREAM.md, "Placement"), made deterministic:

- Allowed hosts: ``request.hosts`` when given (the instance's host on attach), even outside
  the configured clusters, as in-tree; else the hosts of ``request.clusters``; else every
  host. Only connected hosts out of maintenance are used.
- Datastores are filtered in this order, and ``NoPlacement`` names the first filter that left
  nothing: supported type, name matches the regex, accessible and out of maintenance, a
  usable mount on an allowed host, compatible with the storage policy, not excluded, enough
  free space.
- Ranking: most usable mounts on allowed hosts, then least used fraction, then name.
- Host: of the allowed hosts with a usable mount of the datastore, the first by name (a
  backing is a powered-off VM: which host registers it does not matter, stability does).

``explain`` gives, for ``vmdk-volume check``, each datastore's verdict: usable, or the first
filter excluding it.
"""

import collections
import dataclasses
import re
from collections.abc import Callable

from vmdk_volume.units import GiB
from vmdk_volume.vsphere.inventory import (
    Datacenter,
    Datastore,
    DatastoreType,
    Host,
    Inventory,
)

_SUPPORTED = frozenset(t.lower() for t in DatastoreType)
# (keep, reason, why): a datastore test, the reason given the datastores it would empty, and
# why it excludes one datastore.
_Filter = tuple[Callable[[Datastore], object], Callable[[list[Datastore]], str],
                Callable[[Datastore], str]]


@dataclasses.dataclass(frozen=True)
class PlacementRequest:
    """What a disk needs. Datastore sets hold moref values."""

    size_bytes: int
    hosts: frozenset[str] | None = None      # host morefs; wins over clusters (as in-tree)
    clusters: tuple[str, ...] = ()           # vmware_cluster_name; () = every host
    datastore_regex: re.Pattern | None = None
    policy_datastores: frozenset[str] | None = None   # None = no storage policy
    exclude_datastores: frozenset[str] = frozenset()
    pool: str | None = None     # the scheduler's pool: Backend.place tries it first


@dataclasses.dataclass(frozen=True)
class Placement:
    datacenter: Datacenter
    host: Host
    resource_pool: str          # moref value of the host's compute resource's root pool
    datastore: Datastore


class NoPlacement(Exception):
    """Nothing fits; ``str()`` is the reason, worded for operators."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether placement may use a datastore, and if not, the first reason why."""

    datastore: Datastore
    excluded_by: str | None = None     # None: usable (free space is not judged)


@dataclasses.dataclass(frozen=True)
class _Scope:
    hosts: frozenset[str]       # usable allowed host morefs
    where: str                  # 'in cluster c1', 'on host esx-01', 'in vCenter'
    mounted_on: str             # 'host esx-01', 'any of the 3 usable hosts in cluster c1'


def select(inventory: Inventory, request: PlacementRequest) -> Placement:
    """Where ``request`` goes; raises NoPlacement saying why nothing fits."""
    scope = _scope(inventory, request)
    stores = _candidates(inventory, request, scope)
    fitting = [d for d in stores if d.free_space >= request.size_bytes]
    if not fitting:
        largest = max(stores, key=lambda d: d.free_space)
        raise NoPlacement('no datastore with %s free among %s%s %s (largest free: %s on %s)' % (
            _gib(request.size_bytes, up=True), _count(len(stores), 'datastore'),
            _matching(request), scope.where, _gib(largest.free_space), largest.name))
    datastore = fitting[0]
    host = min((inventory.hosts[h] for h in datastore.usable_hosts() & scope.hosts),
               key=lambda h: (h.name, h.ref))
    return Placement(datacenter=inventory.datacenters[datastore.datacenter], host=host,
                     resource_pool=inventory.compute_resources[host.compute_resource].resource_pool,
                     datastore=datastore)


def candidate_datastores(inventory: Inventory, request: PlacementRequest) -> list[Datastore]:
    """The datastores ``request`` may use, whatever their free space, best first."""
    try:
        return _candidates(inventory, request, _scope(inventory, request))
    except NoPlacement:
        return []


def explain(inventory: Inventory, request: PlacementRequest) -> list[Verdict]:
    """Every datastore with the first filter excluding it (free space aside), usable ones
    first in placement's order, then the excluded by name."""
    try:
        scope = _scope(inventory, request)
    except NoPlacement as error:     # no usable host: nothing can be mounted on one
        scope = _Scope(frozenset(), '', 'a usable host (%s)' % error)
    verdicts = []
    for store in inventory.datastores.values():
        why = next((why for keep, _, why in _filters(request, scope) if not keep(store)), None)
        verdicts.append(Verdict(store, why(store) if why else None))
    usable = [v.datastore for v in verdicts if v.excluded_by is None]
    order = {d.ref: i for i, d in enumerate(_ranked(usable, scope))}
    return sorted(verdicts, key=lambda v: (v.excluded_by is not None,
                                           order.get(v.datastore.ref, 0), v.datastore.name))


def backend_verdicts(inventory: Inventory, request: PlacementRequest) -> list[Verdict]:
    """``explain``'s verdicts on the datastores the backend has, usable or not: of a
    supported type, matching the regex, and mounted (in any state) on a host ``request``
    allows (ignoring ``request.hosts``: every host of its clusters, or of vCenter)."""
    try:
        allowed = frozenset(_allowed(inventory, dataclasses.replace(request, hosts=None))[0])
    except NoPlacement:      # no cluster of that name: the backend has no datastore
        return []
    regex = request.datastore_regex
    return [v for v in explain(inventory, request)
            if v.datastore.type.lower() in _SUPPORTED
            and (regex is None or regex.match(v.datastore.name))
            and any(m.host in allowed for m in v.datastore.mounts)]


def _scope(inventory: Inventory, request: PlacementRequest) -> _Scope:
    refs, where = _allowed(inventory, request)
    hosts = [inventory.hosts.get(ref) for ref in refs]
    usable = sorted((h for h in hosts if h is not None and h.usable), key=lambda h: h.name)
    if not usable:
        raise NoPlacement('no usable host %s: %s' % (where, _unusable(refs, hosts)))
    if len(usable) == 1 or request.hosts is not None:
        mounted_on = _named('host', [h.name for h in usable])
    else:
        mounted_on = 'any of the %d usable hosts %s' % (len(usable), where)
    return _Scope(frozenset(h.ref for h in usable), where, mounted_on)


def _allowed(inventory: Inventory, request: PlacementRequest) -> tuple[list[str], str]:
    """The host morefs ``request`` allows, and the phrase naming them."""
    if request.hosts is not None:
        names = [inventory.hosts[r].name if r in inventory.hosts else r for r in request.hosts]
        return sorted(request.hosts), 'on ' + _named('host', sorted(names))
    if request.clusters:
        clusters = inventory.clusters_named(request.clusters)
        if not clusters:
            raise NoPlacement('no usable host: vCenter has no cluster named %s'
                              % ', '.join(request.clusters))
        return ([h for c in clusters for h in c.hosts],
                'in ' + _named('cluster', sorted(c.name for c in clusters)))
    return sorted(inventory.hosts), 'in vCenter'


def _unusable(refs: list[str], hosts: list[Host | None]) -> str:
    states = ['not in vCenter' if h is None else 'in maintenance' if h.connected
              else 'disconnected' for h in hosts]
    counts = sorted(collections.Counter(states).items())
    if not states:
        return 'no hosts'
    if len(states) == 1:
        return '%s is %s' % (hosts[0].name if hosts[0] else refs[0], states[0])
    if len(counts) == 1:
        return '%d hosts, all %s' % (len(states), states[0])
    return '%d hosts: %s' % (len(states), ', '.join('%d %s' % (n, s) for s, n in counts))


def _candidates(inventory: Inventory, request: PlacementRequest,
                scope: _Scope) -> list[Datastore]:
    """Datastores passing every filter but size, best first; NoPlacement if none."""
    stores = list(inventory.datastores.values())
    for keep, reason, _ in _filters(request, scope):
        kept = [d for d in stores if keep(d)]
        if not kept:
            raise NoPlacement(reason(stores))
        stores = kept
    return _ranked(stores, scope)


def _ranked(stores: list[Datastore], scope: _Scope) -> list[Datastore]:
    return sorted(stores, key=lambda d: (-len(d.usable_hosts() & scope.hosts),
                                         d.used_fraction, d.name, d.ref))


def _filters(request: PlacementRequest, scope: _Scope) -> list[_Filter]:
    """The datastore filters, in the order reasons are looked for."""
    regex, policy = request.datastore_regex, request.policy_datastores
    matching = _matching(request)
    return [
        (lambda d: d.type.lower() in _SUPPORTED, _no_supported_type,
         lambda d: 'type %s is not supported (%s)' % (d.type, ', '.join(DatastoreType))),
        (lambda d: regex is None or regex.match(d.name),
         lambda s: "none of %s matches vmware_datastore_regex '%s'"
         % (_count(len(s), 'datastore'), regex.pattern),
         lambda d: "name does not match vmware_datastore_regex '%s'" % regex.pattern),
        (lambda d: d.accessible and not d.in_maintenance,
         lambda s: _all_are(len(s), matching or ' of a supported type',
                            'in maintenance or inaccessible'),
         lambda d: 'in maintenance' if d.in_maintenance else 'inaccessible'),
        (lambda d: d.usable_hosts() & scope.hosts,
         lambda s: 'none of %s%s is mounted read-write on %s'
         % (_count(len(s), 'accessible datastore'), matching, scope.mounted_on),
         lambda d: 'not mounted read-write on %s' % scope.mounted_on),
        (lambda d: policy is None or d.ref in policy,
         lambda s: 'none of %s%s %s is compatible with the storage policy'
         % (_count(len(s), 'datastore'), matching, scope.where),
         lambda d: 'not compatible with the storage policy'),
        (lambda d: d.ref not in request.exclude_datastores,
         lambda s: 'no datastore%s %s other than the excluded %s'
         % (matching, scope.where, ', '.join(sorted(d.name for d in s))),
         lambda d: 'excluded by the request'),
    ]


def _no_supported_type(stores: list[Datastore]) -> str:
    if not stores:
        return 'vCenter has no datastores'
    return 'none of %s in vCenter is of a supported type (%s); found: %s' % (
        _count(len(stores), 'datastore'), ', '.join(DatastoreType),
        ', '.join(sorted({d.type for d in stores})))


def _all_are(n: int, qualifier: str, state: str) -> str:
    if n == 1:
        return 'the only datastore%s is %s' % (qualifier, state)
    return 'all %d datastores%s are %s' % (n, qualifier, state)


def _matching(request: PlacementRequest) -> str:
    regex = request.datastore_regex
    return " matching '%s'" % regex.pattern if regex else ''


def _count(n: int, noun: str) -> str:
    return '%d %s%s' % (n, noun, '' if n == 1 else 's')


def _named(noun: str, names: list[str]) -> str:
    return '%s%s %s' % (noun, 's' if len(names) > 1 else '', ', '.join(names))


def _gib(size: int, up: bool = False) -> str:
    """Bytes as GiB to a tenth, rounded up (a request) or down (free space)."""
    tenths = -(-size * 10 // GiB) if up else size * 10 // GiB
    return ('%.1f' % (tenths / 10)).removesuffix('.0') + ' GiB'
