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

"""Placement over hand-built inventories: filters, ranking, host choice and reasons."""


import pytest

from tests.unit.inventories import (
    THREE_HOSTS,
    TWO_CLUSTERS,
    TWO_HOSTS,
    ds,
    host,
    inventory,
    request,
)
from vmdk_volume.core.placement import (
    NoPlacement,
    candidate_datastores,
    explain,
    select,
)
from vmdk_volume.vsphere.inventory import (
    Mount,
)

# -- where things go -----------------------------------------------------------------------

@pytest.mark.parametrize('hosts, datastores, req, expected', [
    pytest.param(TWO_HOSTS, [ds('ds1')], request(), ('esx-01', 'ds1'), id='simplest'),
    # Ranking: usable mounts on allowed hosts, then used fraction, then name.
    pytest.param(THREE_HOSTS, [ds('few', on=['esx-01'], free=900),
                               ds('many', on=['esx-01', 'esx-02'], free=100)],
                 request(), ('esx-01', 'many'), id='most-mounts-first'),
    pytest.param(TWO_HOSTS, [ds('full', free=100), ds('empty', free=500)],
                 request(), ('esx-01', 'empty'), id='least-used-fraction'),
    pytest.param(TWO_HOSTS, [ds('half-of-big', free=500, capacity=1000),
                             ds('more-free-but-fuller', free=600, capacity=2000)],
                 request(), ('esx-01', 'half-of-big'), id='fraction-not-bytes'),
    pytest.param(TWO_HOSTS, [ds('b'), ds('a'), ds('c')], request(), ('esx-01', 'a'),
                 id='name-breaks-ties'),
    pytest.param(TWO_CLUSTERS, [ds('wide', on=['esx-01', 'esx-11', 'esx-12']),
                                ds('narrow', on=['esx-01', 'esx-02'])],
                 request(clusters=('c1',)), ('esx-01', 'narrow'), id='mounts-counted-in-scope'),
    pytest.param((host('esx-01'), host('esx-02', maintenance=True),
                  host('esx-03', connected=False), host('esx-04')),
                 [ds('wide', on=['esx-01', 'esx-02', 'esx-03']),
                  ds('narrow', on=['esx-01', 'esx-04'])],
                 request(), ('esx-01', 'narrow'), id='mounts-counted-on-usable-hosts'),
    pytest.param(THREE_HOSTS, [ds('wide', on=['esx-01'],
                                  mounts=[Mount('host-esx-02', mounted=False),
                                          Mount('host-esx-03', read_write=False)]),
                               ds('narrow', on=['esx-01', 'esx-02'])],
                 request(), ('esx-01', 'narrow'), id='only-usable-mounts-count'),
    # Filters that let the next best through.
    pytest.param(TWO_HOSTS, [ds('roomy', free=100), ds('best', free=50, capacity=60)],
                 request(size=60), ('esx-01', 'roomy'), id='too-small-skipped'),
    pytest.param(TWO_HOSTS, [ds('exact', free=60, capacity=60)], request(size=60),
                 ('esx-01', 'exact'), id='exact-fit'),
    pytest.param(TWO_HOSTS, [ds('pmem', type='PMEM', free=900), ds('v', type='vsan')],
                 request(), ('esx-01', 'v'), id='unsupported-type-skipped'),
    pytest.param(TWO_HOSTS, [ds('n', type='nfs41')], request(), ('esx-01', 'n'),
                 id='type-case-insensitive'),
    pytest.param(TWO_HOSTS, [ds('x-ssd-1', free=900), ds('ssd-1')], request(regex='ssd'),
                 ('esx-01', 'ssd-1'), id='regex-matches-from-start'),
    pytest.param(TWO_HOSTS, [ds('gone', free=900, accessible=False), ds('ok')], request(),
                 ('esx-01', 'ok'), id='inaccessible-skipped'),
    pytest.param(TWO_HOSTS, [ds('maint', free=900, maintenance=True), ds('ok')], request(),
                 ('esx-01', 'ok'), id='datastore-maintenance-skipped'),
    pytest.param(TWO_HOSTS, [ds('gold', free=50), ds('bronze', free=900)],
                 request(policy_datastores=frozenset({'ds-gold'})), ('esx-01', 'gold'),
                 id='policy-restricts'),
    pytest.param(TWO_HOSTS, [ds('current', free=900), ds('other')],
                 request(exclude_datastores=frozenset({'ds-current'})), ('esx-01', 'other'),
                 id='exclude'),
    pytest.param(TWO_CLUSTERS, [ds('c2-only', on=['esx-11'], free=900), ds('c1', on=['esx-02'])],
                 request(clusters=('c1',)), ('esx-02', 'c1'), id='cluster-restricts'),
    # Host choice.
    pytest.param(TWO_HOSTS, [ds('ds1', on=['esx-01', 'esx-02'])], request(hosts=['esx-02']),
                 ('esx-02', 'ds1'), id='instance-host-honoured'),
    pytest.param(TWO_HOSTS, [ds('elsewhere', on=['esx-01'], free=900),
                             ds('here', on=['esx-02'])],
                 request(hosts=['esx-02']), ('esx-02', 'here'), id='instance-host-needs-mount'),
    pytest.param(TWO_CLUSTERS, [ds('ds1', on=['esx-01', 'esx-11'])],
                 request(hosts=['esx-11'], clusters=('c1',)), ('esx-11', 'ds1'),
                 id='instance-host-outside-clusters'),
    pytest.param((host('esx-01', maintenance=True), host('esx-02')),
                 [ds('ds1', on=['esx-01', 'esx-02'])], request(), ('esx-02', 'ds1'),
                 id='maintenance-host-skipped'),
    pytest.param((host('esx-01', connected=False), host('esx-02')),
                 [ds('ds1', on=['esx-01', 'esx-02'])], request(), ('esx-02', 'ds1'),
                 id='disconnected-host-skipped'),
    pytest.param(THREE_HOSTS, [ds('ds1', on=['esx-03', 'esx-01'],
                                  mounts=[Mount('host-esx-02', accessible=False)])],
                 request(hosts=['esx-03', 'esx-02', 'esx-01']), ('esx-01', 'ds1'),
                 id='first-host-by-name-with-usable-mount'),
])
def test_select(hosts, datastores, req, expected):
    chosen = select(inventory(hosts, datastores), req)
    assert (chosen.host.name, chosen.datastore.name) == expected


def test_placement_carries_pool_and_datacenter_of_the_choice():
    inv = inventory(TWO_CLUSTERS, [ds('ds1', on=['esx-11'])])
    chosen = select(inv, request())
    assert chosen.host is inv.hosts['host-esx-11']
    assert chosen.datastore is inv.datastores['ds-ds1']
    assert chosen.resource_pool == 'resgroup-c2'
    assert chosen.datacenter is inv.datacenters['datacenter-1']


# -- why nothing fits ----------------------------------------------------------------------

SUPPORTED = '(VMFS, NFS, NFS41, vsan, VVOL)'


@pytest.mark.parametrize('hosts, datastores, req, reason', [
    # No usable host.
    pytest.param([host('esx-01', maintenance=True), host('esx-02', maintenance=True),
                  host('esx-03', maintenance=True)], [ds('ds1')], request(clusters=('c1',)),
                 'no usable host in cluster c1: 3 hosts, all in maintenance', id='all-maint'),
    pytest.param([host('esx-01', maintenance=True), host('esx-02', connected=False),
                  host('esx-03', connected=False, maintenance=True)], [ds('ds1')], request(),
                 'no usable host in vCenter: 3 hosts: 2 disconnected, 1 in maintenance',
                 id='mixed-states'),
    pytest.param(TWO_HOSTS + (host('esx-11', 'c2', maintenance=True),), [ds('ds1')],
                 request(clusters=('c2', 'nope')),
                 'no usable host in cluster c2: esx-11 is in maintenance', id='one-host'),
    pytest.param(TWO_HOSTS, [ds('ds1')], request(clusters=('c7', 'c8')),
                 'no usable host: vCenter has no cluster named c7, c8', id='no-such-cluster'),
    pytest.param([], [ds('ds1')], request(), 'no usable host in vCenter: no hosts',
                 id='no-hosts'),
    pytest.param(TWO_HOSTS, [ds('ds1')], request(hosts=['esx-09']),
                 'no usable host on host host-esx-09: host-esx-09 is not in vCenter',
                 id='unknown-instance-host'),
    pytest.param([host('esx-01', connected=False), host('esx-02', maintenance=True)],
                 [ds('ds1')], request(hosts=['esx-02', 'esx-01']),
                 'no usable host on hosts esx-01, esx-02: 2 hosts: 1 disconnected, '
                 '1 in maintenance', id='instance-hosts-unusable'),
    # Datastore filters, in order.
    pytest.param(TWO_HOSTS, [], request(), 'vCenter has no datastores', id='no-datastores'),
    pytest.param(TWO_HOSTS, [ds('p', type='PMEM'), ds('v', type='vsanD'), ds('q', type='PMEM')],
                 request(),
                 'none of 3 datastores in vCenter is of a supported type %s; found: PMEM, vsanD'
                 % SUPPORTED, id='type'),
    pytest.param(TWO_HOSTS, [ds('hdd-1'), ds('hdd-2'), ds('x-ssd-1'), ds('nvme', type='PMEM')],
                 request(regex='ssd-.*'),
                 "none of 3 datastores matches vmware_datastore_regex 'ssd-.*'", id='regex'),
    pytest.param(TWO_HOSTS, [ds('ssd-1', accessible=False), ds('ssd-2', maintenance=True),
                             ds('ssd-3', accessible=False, maintenance=True), ds('hdd-1')],
                 request(regex='ssd-.*'),
                 "all 3 datastores matching 'ssd-.*' are in maintenance or inaccessible",
                 id='accessibility'),
    pytest.param(TWO_HOSTS, [ds('ds1', maintenance=True)], request(),
                 'the only datastore of a supported type is in maintenance or inaccessible',
                 id='accessibility-one'),
    pytest.param(TWO_HOSTS, [ds('ssd-1', on=['esx-01']), ds('ssd-2', on=[],
                             mounts=[Mount('host-esx-02', read_write=False)])],
                 request(hosts=['esx-02'], regex='ssd-.*'),
                 "none of 2 accessible datastores matching 'ssd-.*' is mounted read-write "
                 'on host esx-02', id='mount-instance-host'),
    pytest.param(TWO_CLUSTERS, [ds('ds1', on=['esx-11'])], request(clusters=('c1',)),
                 'none of 1 accessible datastore is mounted read-write on any of the 2 usable '
                 'hosts in cluster c1', id='mount-cluster'),
    pytest.param([host('esx-01'), host('esx-02', maintenance=True)], [ds('ds1', on=['esx-02'])],
                 request(), 'none of 1 accessible datastore is mounted read-write on host esx-01',
                 id='mount-only-on-maintenance-host'),
    pytest.param(TWO_CLUSTERS, [ds('ssd-1'), ds('ssd-2'), ds('ssd-3', on=['esx-11'])],
                 request(clusters=('c1',), regex='ssd-.*',
                         policy_datastores=frozenset({'ds-ssd-3'})),
                 "none of 2 datastores matching 'ssd-.*' in cluster c1 is compatible with the "
                 'storage policy', id='policy'),
    pytest.param(TWO_HOSTS, [ds('a'), ds('b')],
                 request(exclude_datastores=frozenset({'ds-a', 'ds-b', 'ds-other'})),
                 'no datastore in vCenter other than the excluded a, b', id='exclude'),
    pytest.param(TWO_CLUSTERS, [ds('ssd-%02d' % i, free=10 * i) for i in range(1, 13)]
                 + [ds('ssd-99', on=['esx-11'], free=900), ds('hdd-1', free=900)],
                 request(size=499.5, clusters=('c1',), regex='ssd-.*'),
                 "no datastore with 499.5 GiB free among 12 datastores matching 'ssd-.*' in "
                 'cluster c1 (largest free: 120 GiB on ssd-12)', id='size'),
    pytest.param(TWO_HOSTS, [ds('a', free=0.39), ds('b', free=0.25)], request(size=0.401),
                 'no datastore with 0.5 GiB free among 2 datastores in vCenter '
                 '(largest free: 0.3 GiB on a)', id='size-rounding'),
])
def test_no_placement_says_why(hosts, datastores, req, reason):
    inv = inventory(hosts, datastores)
    with pytest.raises(NoPlacement) as caught:
        select(inv, req)
    assert str(caught.value) == reason


# -- candidates (capacity stats) -----------------------------------------------------------

@pytest.mark.parametrize('hosts, datastores, req, expected', [
    pytest.param(TWO_HOSTS, [ds('tiny', free=1), ds('wide', on=['esx-01', 'esx-02'], free=1),
                             ds('roomy', free=900), ds('pmem', type='PMEM')],
                 request(size=500), ['wide', 'roomy', 'tiny'], id='ranked-size-ignored'),
    pytest.param(TWO_CLUSTERS, [ds('c1'), ds('c2', on=['esx-11'])], request(clusters=('c2',)),
                 ['c2'], id='in-scope-only'),
    pytest.param(TWO_HOSTS, [ds('gone', accessible=False)], request(), [], id='none'),
    pytest.param([host('esx-01', maintenance=True)], [ds('ds1')], request(), [],
                 id='no-usable-host'),
])
def test_candidate_datastores(hosts, datastores, req, expected):
    assert [d.name for d in candidate_datastores(inventory(hosts, datastores), req)] == expected


# -- explain: each datastore's verdict, for vmdk-volume check ------------------------------


def _verdicts(inv, req) -> dict[str, str | None]:
    return {v.datastore.name: v.excluded_by for v in explain(inv, req)}


def test_explain_gives_each_excluded_datastore_its_first_reason():
    inv = inventory(TWO_CLUSTERS, [
        ds('ssd-a', on=('esx-01', 'esx-02'), free=10), ds('ssd-b', free=500),
        ds('hdd-a'), ds('ssd-local', type='OTHER'), ds('ssd-down', maintenance=True),
        ds('ssd-gone', accessible=False, maintenance=True), ds('ssd-off', accessible=False),
        ds('ssd-c2', on=('esx-11',))])
    verdicts = explain(inv, request(regex='ssd-', clusters=('c1',)))
    assert [v.datastore.name for v in verdicts][:2] == ['ssd-a', 'ssd-b']   # placement order
    assert _verdicts(inv, request(regex='ssd-', clusters=('c1',))) == {
        'ssd-a': None, 'ssd-b': None,
        'hdd-a': "name does not match vmware_datastore_regex 'ssd-'",
        'ssd-local': 'type OTHER is not supported (VMFS, NFS, NFS41, vsan, VVOL)',
        'ssd-down': 'in maintenance', 'ssd-gone': 'in maintenance',
        'ssd-off': 'inaccessible',
        'ssd-c2': 'not mounted read-write on any of the 2 usable hosts in cluster c1'}


def test_explain_judges_no_free_space_and_names_policy_and_exclusions():
    inv = inventory(TWO_HOSTS, [ds('full', free=0), ds('other'), ds('gold')])
    req = request(size=50, policy_datastores=frozenset({'ds-full', 'ds-gold'}),
                  exclude_datastores=frozenset({'ds-gold'}))
    assert _verdicts(inv, req) == {'full': None,
                                   'other': 'not compatible with the storage policy',
                                   'gold': 'excluded by the request'}


def test_explain_without_usable_hosts_says_why_nothing_is_mounted():
    inv = inventory((host('esx-01', maintenance=True),), [ds('ds1')])
    assert _verdicts(inv, request()) == {
        'ds1': 'not mounted read-write on a usable host (no usable host in vCenter: '
               'esx-01 is in maintenance)'}
