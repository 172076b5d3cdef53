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

"""Pools over hand-built inventories: which datastores are pools, their figures, down ones."""

import dataclasses

from tests.unit.inventories import TWO_CLUSTERS, TWO_HOSTS, ds, host, inventory, request
from vmdk_volume.core import pools
from vmdk_volume.core.pools import Pool
from vmdk_volume.units import GiB
from vmdk_volume.vsphere.inventory import Datacenter, Mount, Pod


def test_each_datastore_of_the_backend_is_a_pool_with_its_figures():
    store = dataclasses.replace(ds('ds1', free=300, capacity=1000), uncommitted=200 * GiB)
    found = pools.per_datastore(inventory(TWO_HOSTS, [store]), request(0))
    assert found == [Pool('ds1', 1000 * GiB, 300 * GiB, 900 * GiB)]


def test_datastores_placement_never_uses_are_no_pools_and_unusable_ones_are_down():
    stores = [ds('ok'), ds('other-type', type='OTHER'), ds('unmatched'),
              ds('maint', maintenance=True), ds('gone', accessible=False),
              ds('ro', on=(), mounts=(Mount('host-esx-01', read_write=False),)),
              ds('on-maintenance-host', on=('esx-03',)),
              ds('other-cluster', on=('esx-11',))]
    hosts = TWO_CLUSTERS + (host('esx-03', maintenance=True),)
    found = pools.per_datastore(inventory(hosts, stores),
                                request(0, clusters=('c1',), regex='(?!unmatched)'))
    assert {p.name: p.down for p in found} == {
        'ok': None, 'maint': 'in maintenance', 'gone': 'inaccessible',
        'ro': 'not mounted read-write on any of the 2 usable hosts in cluster c1',
        'on-maintenance-host': 'not mounted read-write on any of the 2 usable hosts in '
                               'cluster c1'}


def test_a_name_two_datacenters_have_is_qualified_by_the_datacenter():
    stores = [ds('shared'), dataclasses.replace(ds('shared'), ref='ds-b', datacenter='dc-b'),
              ds('alone')]
    found = inventory(TWO_HOSTS, stores)
    found = dataclasses.replace(found, datacenters={
        **found.datacenters, 'dc-b': Datacenter('dc-b', 'east', 'group-v2')})
    assert pools.pool_names(found) == {'ds-shared': 'dc1/shared', 'ds-b': 'east/shared',
                                       'ds-alone': 'alone'}
    assert pools.datastore_of(found, 'east/shared') == 'ds-b'
    assert pools.datastore_of(found, 'shared') is None


def test_the_single_pool_sums_the_datastores_placement_may_use():
    stores = [ds('a', free=100), ds('b', free=50, capacity=500), ds('maint', maintenance=True)]
    assert pools.single('vc1', inventory(TWO_HOSTS, stores), request(0)) == Pool(
        'vc1', 1500 * GiB, 150 * GiB, 1350 * GiB)


def _with_pod(found, name, *members):
    pod = Pod('pod-' + name, name, tuple('ds-' + m for m in members))
    return dataclasses.replace(found, pods={**found.pods, pod.ref: pod})


def test_a_datastore_cluster_is_one_pool_of_its_usable_members_figures():
    stores = [ds('alone', free=100), ds('m1', free=300, capacity=1000),
              ds('m2', free=200, capacity=500), ds('m3', maintenance=True)]
    found = _with_pod(inventory(TWO_HOSTS, stores), 'pod', 'm1', 'm2', 'm3')
    assert pools.per_datastore(found, request(0)) == [
        Pool('alone', 1000 * GiB, 100 * GiB, 900 * GiB),
        Pool('pod', 1500 * GiB, 500 * GiB, 1000 * GiB)]
    assert pools.pool_names(found)['ds-m3'] == 'pod'      # a member's backing is in the pod


def test_a_datastore_cluster_none_of_whose_members_is_usable_is_down_naming_each_reason():
    stores = [ds('m1', maintenance=True), ds('m2', accessible=False)]
    found = _with_pod(inventory(TWO_HOSTS, stores), 'pod', 'm1', 'm2')
    assert pools.per_datastore(found, request(0)) == [Pool(
        'pod', 0, 0, 0, 'no member can take a volume (m1: in maintenance, m2: inaccessible)')]


def test_a_datastore_cluster_pool_names_the_pod_not_a_member():
    found = _with_pod(inventory(TWO_HOSTS, [ds('m1'), ds('alone')]), 'pod', 'm1')
    assert pools.pod_named(found, 'pod').datastores == ('ds-m1',)
    assert pools.datastore_of(found, 'pod') is None
    assert pools.datastore_of(found, 'alone') == 'ds-alone'
    assert pools.pod_named(found, 'alone') is None


def test_a_datastore_cluster_name_two_datacenters_have_is_qualified_by_the_datacenter():
    stores = [ds('m1'), dataclasses.replace(ds('m2'), datacenter='dc-b')]
    found = inventory(TWO_HOSTS, stores)
    found = dataclasses.replace(found, datacenters={
        **found.datacenters, 'dc-b': Datacenter('dc-b', 'east', 'group-v2')}, pods={
        'pod-1': Pod('pod-1', 'pod', ('ds-m1',)), 'pod-2': Pod('pod-2', 'pod', ('ds-m2',))})
    assert pools.pool_names(found) == {'ds-m1': 'dc1/pod', 'ds-m2': 'east/pod'}
    assert pools.pod_named(found, 'east/pod').ref == 'pod-2'
    assert pools.pod_named(found, 'pod') is None
