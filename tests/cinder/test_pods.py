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

"""Datastore clusters (StoragePod) as Cinder's scheduler reads them (``vmware_pools =
datastore``): a pod is one pool in place of its members, through the VolumeManager and
Cinder's own HostManager and CapacityFilter; a volume scheduled to it is placed by Storage
DRS (RecommendDatastores); a Storage DRS move of its disk is followed."""

import logging

import pytest
from vmdk_volume_simkit import ModelSize, Simulator

from tests import vcenter
from tests.cinder.helpers import (
    NOVA_CONNECTOR,
    fitting_pools,
    fresh_stats,
    pools_by_name,
    read_backing,
    vm_to_attach,
)
from vmdk_volume.core import placement
from vmdk_volume.units import GiB

SECTION = 'pods'
STORES = ['LocalDS_0', 'LocalDS_1', 'LocalDS_2', 'LocalDS_3']
MEMBERS = ('LocalDS_2', 'LocalDS_3')
HOSTS = ('DC0_C0_H0', 'DC0_C0_H1')


@pytest.fixture(scope='module')
def vc():
    with Simulator(ModelSize(hosts=2, datastores=len(STORES))) as simulator:
        simulator.make_pod('POD0', MEMBERS)
        yield simulator


@pytest.fixture(scope='module')
def manager(cinder, vc):
    manager = cinder.add_backend(SECTION, vc, {'vmware_pools': 'datastore',
                                               'max_over_subscription_ratio': '1.0'})
    yield manager
    cinder.remove_backend(SECTION)    # its simulator ends with this module


@pytest.fixture
def space(vc, manager):
    """Give datastores (name -> (capacity, free) GiB) space; restored after, with every
    datastore usable again and the driver's inventory read afresh."""
    def give(**stores):
        for name, (capacity, free) in stores.items():
            vc.change_datastore(name, capacity=capacity * GiB, free_space=free * GiB)
    yield give
    for index, name in enumerate(STORES):     # as the kit makes them
        vc.change_datastore(name, capacity=1024 * GiB, free_space=(900 - index) * GiB,
                            uncommitted=0, maintenance=False, accessible=True,
                            mount_on=HOSTS)


def _scheduled(cinder, pool, size_gb=1, **fields):
    volume = cinder.new_volume(SECTION, size_gb=size_gb, **fields)
    volume.host = 'cinder@%s#%s' % (SECTION, pool)
    volume.save()
    return volume


def _attach(cinder, manager, volume, instance):
    manager.initialize_connection(cinder.context, volume,
                                  dict(NOVA_CONNECTOR, instance=instance))
    volume.refresh()


def _store(manager, volume):
    [store] = read_backing(manager.driver, volume.id)['datastore'].ManagedObjectReference
    return vcenter.of(manager.driver).backend.inventory().datastores[store.value].name


def test_a_pod_is_one_pool_in_place_of_its_members_with_their_figures_summed(
        manager, space, monkeypatch):
    space(LocalDS_2=(200, 100), LocalDS_3=(300, 50))
    pools = pools_by_name(fresh_stats(manager, monkeypatch))
    assert sorted(pools) == ['LocalDS_0', 'LocalDS_1', 'POD0']
    assert {k: pools['POD0'][k] for k in ('total_capacity_gb', 'free_capacity_gb',
                                          'provisioned_capacity_gb', 'backend_state')} == {
        'total_capacity_gb': 500, 'free_capacity_gb': 150, 'provisioned_capacity_gb': 350,
        'backend_state': 'up'}


def test_a_pod_no_member_of_which_can_take_a_volume_is_down_and_skipped(
        cinder, vc, manager, space, monkeypatch):
    vc.change_datastore('LocalDS_2', maintenance=True)
    stats = fresh_stats(manager, monkeypatch)
    assert pools_by_name(stats)['POD0']['backend_state'] == 'up'     # one member is usable
    vc.change_datastore('LocalDS_3', unmount_from=HOSTS)
    pool = pools_by_name(fresh_stats(manager, monkeypatch))['POD0']
    assert (pool['backend_state'], pool['total_capacity_gb'], pool['free_capacity_gb']) == (
        'down', 0, 0)
    [down] = [p for p in vcenter.of(manager.driver).backend.pools() if p.name == 'POD0']
    assert down.down == ('no member can take a volume (LocalDS_2: in maintenance, '
                         'LocalDS_3: not mounted read-write on any of the 2 usable hosts '
                         'in vCenter)')
    assert fitting_pools(cinder, manager, 1) == ['LocalDS_0', 'LocalDS_1']


def test_the_pod_as_the_only_fit_gets_the_volume_on_the_member_storage_drs_recommends(
        cinder, vc, manager, space, monkeypatch):
    """Placement would rank LocalDS_2 first (less used); Storage DRS recommends the member
    with most free space, LocalDS_3: the backing goes there, at one call more."""
    space(LocalDS_0=(1024, 100), LocalDS_1=(1024, 100), LocalDS_2=(4096, 3000),
          LocalDS_3=(8192, 3500))
    fresh_stats(manager, monkeypatch)
    assert fitting_pools(cinder, manager, 300) == ['POD0']
    backend = vcenter.of(manager.driver).backend
    others = frozenset(d.ref for d in backend.current_inventory().datastores.values()
                       if d.name not in MEMBERS)
    assert placement.select(backend.current_inventory(), backend.placement_request(
        300 * GiB, exclude_datastores=others)).datastore.name == 'LocalDS_2'
    instance, _ = vm_to_attach(manager.driver)
    warm = _scheduled(cinder, 'LocalDS_0')      # the project's folders made
    manager.create_volume(cinder.context, warm, allow_reschedule=False)
    _attach(cinder, manager, warm, instance)
    volume = _scheduled(cinder, 'POD0', size_gb=300)
    manager.create_volume(cinder.context, volume, allow_reschedule=False)
    vc.reset_stats()
    _attach(cinder, manager, volume, instance)
    calls = vc.stats().calls
    assert (_store(manager, volume), volume.host) == ('LocalDS_3', 'cinder@%s#POD0' % SECTION)
    # a warm first attach in a datastore pool (tests/cinder/test_pools.py), and Storage DRS
    assert calls == {'FindAllByUuid': 1, 'RetrievePropertiesEx': 1, 'RecommendDatastores': 1,
                     'CreateVM_Task': 1, 'WaitForUpdatesEx': 2}   # the inventory's, the task's
    for made in (volume, warm):
        manager.delete_volume(cinder.context, made)


def test_a_pod_whose_members_lost_their_space_is_passed_over_and_cinder_learns_it(
        cinder, vc, manager, space, monkeypatch, caplog):
    """A full clone scheduled to the pod after the members' space went (Cinder's stats, read
    at the last stats period, still have it): placement, on the inventory as vCenter has it
    now, finds no member fits without asking Storage DRS, the clone goes where there is
    space, and Cinder learns its pool from the create's model update."""
    instance, _ = vm_to_attach(manager.driver)
    source = _scheduled(cinder, 'LocalDS_0')
    manager.create_volume(cinder.context, source, allow_reschedule=False)
    _attach(cinder, manager, source, instance)
    source.status = 'available'
    source.save()
    fresh_stats(manager, monkeypatch)
    space(LocalDS_2=(1024, 5), LocalDS_3=(1024, 5))
    clone = _scheduled(cinder, 'POD0', size_gb=10, source_volid=source.id)
    vc.reset_stats()
    with caplog.at_level(logging.INFO, logger='vmdk_volume'):
        manager.create_volume(cinder.context, clone, allow_reschedule=False)
    clone.refresh()
    assert 'RecommendDatastores' not in vc.stats().calls
    assert any(r.getMessage().startswith('Pool POD0 cannot take %d bytes' % (10 * GiB))
               for r in caplog.records)
    store = _store(manager, clone)
    assert store not in MEMBERS
    assert clone.host == 'cinder@%s#%s' % (SECTION, store)
    for made in (clone, source):
        manager.delete_volume(cinder.context, made)


def test_a_storage_drs_move_of_the_disk_is_followed_by_attach_extend_and_clone(
        cinder, manager, space):
    """Storage DRS moves a backing to another member (a RelocateVM, as Storage DRS's own
    migration is): the next operations find the disk where it is, and the volume stays in
    the pod's pool."""
    instance, _ = vm_to_attach(manager.driver)
    volume = _scheduled(cinder, 'POD0')
    manager.create_volume(cinder.context, volume, allow_reschedule=False)
    _attach(cinder, manager, volume, instance)
    backend, backings = vcenter.of(manager.driver).backend, vcenter.of(manager.driver).backings
    first = _store(manager, volume)
    [other] = [name for name in MEMBERS if name != first]
    ref = backings.find(volume.id)
    inventory = backend.current_inventory()
    other_ref = next(d.ref for d in inventory.datastores.values() if d.name == other)
    backings.relocate(ref, placement.select(inventory, backend.placement_request(
        GiB, exclude_datastores=frozenset(inventory.datastores) - {other_ref})))
    assert _store(manager, volume) == other
    _attach(cinder, manager, volume, instance)
    assert volume.host == 'cinder@%s#POD0' % SECTION
    manager.driver.extend_volume(volume, 2)
    assert backings.describe(ref).size_bytes == 2 * GiB
    assert _store(manager, volume) == other
    volume.refresh()
    volume.status = 'available'
    volume.save()
    clone = _scheduled(cinder, 'POD0', size_gb=2, source_volid=volume.id)
    manager.create_volume(cinder.context, clone, allow_reschedule=False)
    clone.refresh()
    assert clone.status == 'available'
    assert _store(manager, clone) in MEMBERS
    for made in (clone, volume):
        manager.delete_volume(cinder.context, made)
