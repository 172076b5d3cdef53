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

"""The kit's datastore clusters (simkit/vmdk_volume_simkit/vcsim/storage_pods.go): a pod made
as vCenter makes one, and Storage DRS's initial placement (RecommendDatastores) answering as
vCenter does, one rule a test."""

import pytest
from vmdk_volume_simkit import ModelSize, Simulator

from tests.functional.helpers import read_inventory
from tests.vcenter import endpoint_for
from vmdk_volume.units import GiB
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, properties, storage_drs

HOSTS = ('DC0_C0_H0', 'DC0_C0_H1')
MEMBERS = ('LocalDS_2', 'LocalDS_3')


@pytest.fixture(scope='module')
def vc():
    with Simulator(ModelSize(hosts=2, datastores=4, vms=0)) as simulator:
        simulator.make_pod('POD0', MEMBERS)
        yield simulator


@pytest.fixture(scope='module')
def client(vc):
    client = vclient.Client.connect(endpoint_for(vc))
    yield client
    client.close()


@pytest.fixture
def known(vc, client):
    """The inventory; every datastore as the kit makes it again after the test."""
    yield read_inventory(client)
    for index in range(4):
        vc.change_datastore('LocalDS_%d' % index, capacity=1024 * GiB,
                            free_space=(900 - index) * GiB, maintenance=False,
                            accessible=True, mount_on=HOSTS)


def _pod(known):
    [pod] = known.pods.values()
    return pod


def _names(known, refs):
    return tuple(known.datastores[ref].name for ref in refs)


def _recommend(client, known, size_gib, host=None):
    pool = next(iter(known.compute_resources.values())).resource_pool
    host_ref = next(h.ref for h in known.hosts.values() if h.name == host) if host else None
    return storage_drs.recommend(client, _pod(known).ref, size_bytes=size_gib * GiB,
                                 resource_pool=pool, host=host_ref)


def test_a_pod_holds_the_datastores_moved_into_it_which_stay_the_datacenters(client, known):
    pod = _pod(known)
    assert (pod.name, _names(known, pod.datastores)) == ('POD0', MEMBERS)
    assert sorted(d.name for d in known.datastores.values()) == [
        'LocalDS_0', 'LocalDS_1', *MEMBERS]
    parent = properties.fetch_one(client, client.ref('Datastore', pod.datastores[0]),
                                  ['parent'])['parent']
    assert (parent._type, parent.value) == ('StoragePod', pod.ref)


def test_storage_drs_recommends_the_members_that_fit_most_free_space_first(vc, client,
                                                                           known):
    assert _names(known, _recommend(client, known, 10).datastores) == MEMBERS
    vc.change_datastore('LocalDS_3', free_space=950 * GiB)
    assert _names(known, _recommend(client, known, 10).datastores) == (
        'LocalDS_3', 'LocalDS_2')


def test_a_member_without_the_disks_size_free_is_not_recommended(vc, client, known):
    vc.change_datastore('LocalDS_2', free_space=5 * GiB)
    answer = _recommend(client, known, 10)
    assert (_names(known, answer.datastores), answer.refused) == (('LocalDS_3',), None)


def test_members_in_maintenance_or_inaccessible_are_not_recommended(vc, client, known):
    vc.change_datastore('LocalDS_2', maintenance=True)
    assert _names(known, _recommend(client, known, 1).datastores) == ('LocalDS_3',)
    vc.change_datastore('LocalDS_3', accessible=False)
    assert _recommend(client, known, 1).datastores == ()


def test_a_member_not_mounted_on_the_placements_host_is_not_recommended(vc, client, known):
    vc.change_datastore('LocalDS_2', unmount_from=(HOSTS[0],))
    assert _names(known, _recommend(client, known, 1, host=HOSTS[0]).datastores) == (
        'LocalDS_3',)
    # without a host, a member mounted on any host of the resource pool's cluster will do
    assert _names(known, _recommend(client, known, 1).datastores) == MEMBERS


def test_no_member_with_the_space_answers_no_recommendation_and_insufficient_space(
        vc, client, known):
    answer = _recommend(client, known, 2000)
    assert answer.datastores == ()
    assert answer.refused == 'No datastore of POD0 has %d bytes free' % (2000 * GiB)


def test_no_member_usable_on_the_host_answers_no_recommendation_and_no_compatible_datastore(
        vc, client, known):
    for name in MEMBERS:
        vc.change_datastore(name, unmount_from=(HOSTS[1],))
    answer = _recommend(client, known, 1, host=HOSTS[1])
    assert answer == storage_drs.Recommendation(
        (), "No datastore of POD0 is usable on the placement's hosts")


def test_a_placement_naming_no_pod_is_refused_as_an_invalid_argument(client, known):
    pool = next(iter(known.compute_resources.values())).resource_pool
    spec = client.create('StoragePlacementSpec', type='create',
                         resourcePool=client.ref('ResourcePool', pool),
                         configSpec=client.create('VirtualMachineConfigSpec', name='x'),
                         podSelectionSpec=client.create('StorageDrsPodSelectionSpec'))
    with pytest.raises(errors.VSphereError, match='InvalidArgument|storagePod'):
        client.call('RecommendDatastores', client.content.storageResourceManager,
                    storageSpec=spec)


def test_a_datastore_moved_into_a_pod_with_members_is_listed_once_with_them(vc, client):
    vc.make_pod('POD1', ('LocalDS_0',))
    pod = next(p for p in read_inventory(client).pods.values() if p.name == 'POD1')
    other = next(d for d in read_inventory(client).datastores.values()
                 if d.name == 'LocalDS_1')
    client.run('MoveIntoFolder_Task', client.ref('StoragePod', pod.ref),
               list=[client.ref('Datastore', other.ref)])
    moved = next(p for p in read_inventory(client).pods.values() if p.name == 'POD1')
    assert moved.datastores == (pod.datastores[0], other.ref)
