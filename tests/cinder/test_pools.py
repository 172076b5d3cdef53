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

"""Pools as Cinder's scheduler reads them (``vmware_pools = datastore``): each datastore a
pool with vCenter's figures, through the VolumeManager and Cinder's own HostManager and
CapacityFilter; and the scheduler's pool holding when the backing is first made."""

import logging
import os

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
from vmdk_volume.units import GiB

SECTION = 'pools'
STORES = ['LocalDS_0', 'LocalDS_1', 'LocalDS_2', 'LocalDS_3']
HOSTS = ('DC0_C0_H0', 'DC0_C0_H1')


@pytest.fixture(scope='module')
def vc():
    with Simulator(ModelSize(hosts=2, datastores=len(STORES))) as simulator:
        yield simulator


@pytest.fixture(scope='module')
def manager(cinder, vc):
    manager = cinder.add_backend(SECTION, vc, {'vmware_pools': 'datastore',
                                               'max_over_subscription_ratio': '1.0'})
    yield manager
    cinder.remove_backend(SECTION)    # its simulator ends with this module


@pytest.fixture
def space(vc, manager):
    """Give datastores (name -> (capacity, free, uncommitted) GiB) space; restored after,
    with every datastore usable again."""
    def give(**stores):
        for name, (capacity, free, uncommitted) in stores.items():
            vc.change_datastore(name, capacity=capacity * GiB, free_space=free * GiB,
                                uncommitted=uncommitted * GiB)
    yield give
    for index, name in enumerate(STORES):     # as the kit makes them
        vc.change_datastore(name, capacity=1024 * GiB, free_space=(900 - index) * GiB,
                            uncommitted=0, maintenance=False, accessible=True,
                            mount_on=HOSTS)


def test_each_datastore_is_a_pool_with_vcenters_figures_read_in_one_call(
        vc, manager, space, monkeypatch):
    space(LocalDS_1=(200, 100, 50))
    vc.reset_stats()
    stats = fresh_stats(manager, monkeypatch)
    assert vc.stats().calls == {'WaitForUpdatesEx': 1}     # what changed since
    pools = pools_by_name(stats)
    assert sorted(pools) == STORES
    assert {k: pools['LocalDS_1'][k] for k in (
        'total_capacity_gb', 'free_capacity_gb', 'provisioned_capacity_gb', 'backend_state',
        'max_over_subscription_ratio', 'thin_provisioning_support',
        'thick_provisioning_support')} == {
        'total_capacity_gb': 200, 'free_capacity_gb': 100, 'provisioned_capacity_gb': 150,
        'backend_state': 'up', 'max_over_subscription_ratio': '1.0',
        'thin_provisioning_support': True, 'thick_provisioning_support': True}
    assert stats['volume_backend_name'] == SECTION
    assert pools['LocalDS_0']['location_info'].startswith('vmdk_volume:')


def test_a_pool_that_cannot_take_a_volume_is_down_and_skipped_the_reason_logged_once(
        cinder, vc, manager, space, monkeypatch, caplog):
    vc.change_datastore('LocalDS_0', maintenance=True)
    vc.change_datastore('LocalDS_1', accessible=False)
    vc.change_datastore('LocalDS_2', unmount_from=HOSTS)
    with caplog.at_level(logging.INFO, logger='vmdk_volume'):
        fresh_stats(manager, monkeypatch)
        pools = pools_by_name(fresh_stats(manager, monkeypatch))
    down = {name: (p['backend_state'], p['total_capacity_gb'], p['free_capacity_gb'])
            for name, p in pools.items()}
    assert down == {'LocalDS_0': ('down', 0, 0), 'LocalDS_1': ('down', 0, 0),
                    'LocalDS_2': ('down', 0, 0), 'LocalDS_3': ('up', 1024, 897)}
    warnings = [r.getMessage() for r in caplog.records if 'takes no new volume' in
                r.getMessage()]
    assert warnings == ['Pool LocalDS_0 takes no new volume: in maintenance',
                        'Pool LocalDS_1 takes no new volume: inaccessible',
                        'Pool LocalDS_2 takes no new volume: not mounted read-write on any '
                        'of the 2 usable hosts in vCenter']
    # a thin volume's virtual free space ignores free space: a down pool has no total
    assert fitting_pools(cinder, manager, 1) == ['LocalDS_3']


def test_cinders_capacity_filter_finds_no_pool_for_a_volume_larger_than_any_datastore_has(
        cinder, manager, space, monkeypatch):
    space(**{name: (1024, 100, 0) for name in STORES})
    fresh_stats(manager, monkeypatch)
    assert fitting_pools(cinder, manager, 500) == []
    assert fitting_pools(cinder, manager, 100) == STORES
    space(LocalDS_2=(1024, 600, 0))
    fresh_stats(manager, monkeypatch)
    assert fitting_pools(cinder, manager, 500) == ['LocalDS_2']


def _scheduled(cinder, pool, **fields):
    """A volume row as the scheduler leaves it for ``pool``."""
    volume = cinder.new_volume(SECTION, **fields)
    volume.host = 'cinder@%s#%s' % (SECTION, pool)
    volume.save()
    return volume


def _attached(cinder, manager, pool, instance, vc=None):
    """A volume scheduled to ``pool``, attached to ``instance``; with ``vc``, also the SOAP
    calls of the attach."""
    volume = _scheduled(cinder, pool)
    manager.create_volume(cinder.context, volume, allow_reschedule=False)
    if vc:
        vc.reset_stats()
    manager.initialize_connection(cinder.context, volume,
                                  dict(NOVA_CONNECTOR, instance=instance))
    volume.refresh()
    return (volume, vc.stats().calls) if vc else volume


def _datastore_name(driver, backing):
    [store] = backing['datastore'].ManagedObjectReference
    return vcenter.of(driver).inventory().datastores[store.value].name


def test_the_backing_is_made_in_the_scheduled_pool_at_no_extra_call(cinder, vc, manager,
                                                                     space):
    instance, _ = vm_to_attach(manager.driver)
    for pool in ('LocalDS_3', 'LocalDS_1'):    # not placement's own first choice
        volume, calls = _attached(cinder, manager, pool, instance, vc)
        assert _datastore_name(manager.driver, read_backing(manager.driver, volume.id)) == pool
        assert volume.host == 'cinder@%s#%s' % (SECTION, pool)
        manager.delete_volume(cinder.context, volume)
    # warm (folders known): a first attach's calls, as with one pool (tests/functional/
    # test_bench.py)
    assert calls == {'FindAllByUuid': 1, 'RetrievePropertiesEx': 1, 'CreateVM_Task': 1,
                     'WaitForUpdatesEx': 2}


def test_a_pool_the_instances_host_cannot_use_moves_the_volume_and_cinder_learns_it(
        cinder, vc, manager, space):
    instance, host = vm_to_attach(manager.driver)
    inventory = vcenter.of(manager.driver).inventory()
    vc.change_datastore('LocalDS_3', unmount_from=(inventory.hosts[host].name,))
    volume = _attached(cinder, manager, 'LocalDS_3', instance)
    store = _datastore_name(manager.driver, read_backing(manager.driver, volume.id))
    assert store != 'LocalDS_3'
    assert volume.host == 'cinder@%s#%s' % (SECTION, store)
    manager.delete_volume(cinder.context, volume)


def test_a_full_clone_goes_to_its_scheduled_pool(cinder, manager, space):
    instance, _ = vm_to_attach(manager.driver)
    source = _attached(cinder, manager, 'LocalDS_0', instance)
    source.status = 'available'
    source.save()
    clone = _scheduled(cinder, 'LocalDS_2', source_volid=source.id)
    manager.create_volume(cinder.context, clone, allow_reschedule=False)
    clone.refresh()
    assert _datastore_name(manager.driver, read_backing(manager.driver, clone.id)) == 'LocalDS_2'
    assert clone.host == 'cinder@%s#LocalDS_2' % SECTION
    for volume in (clone, source):
        manager.delete_volume(cinder.context, volume)


def test_a_volume_made_under_the_one_pool_report_is_re_homed_on_its_next_attach(
        cinder, manager, space):
    """As after switching an existing backend to vmware_pools = datastore: the volume's
    host names the backend's old single pool, which no pool reports now."""
    instance, _ = vm_to_attach(manager.driver)
    volume = _attached(cinder, manager, 'LocalDS_2', instance)
    volume.host = 'cinder@%s#%s' % (SECTION, SECTION)
    volume.save()
    manager.initialize_connection(cinder.context, volume,
                                  dict(NOVA_CONNECTOR, instance=instance))
    volume.refresh()
    assert volume.host == 'cinder@%s#LocalDS_2' % SECTION
    manager.delete_volume(cinder.context, volume)


IMAGE_BACKENDS = {    # section -> options beside the module's: how the image's backing is made
    'pools-nocache': {'vmware_image_cache_enabled': 'False'},    # an import of its own
    'pools-eager': {'vmware_image_cache_enabled': 'False',        # made empty at create,
                    'vmware_lazy_create': 'False'},               # the image copied in
}


@pytest.fixture(scope='module')
def image_backends(cinder, vc, manager):
    managers = {section: cinder.add_backend(section, vc, {
        'vmware_pools': 'datastore', 'max_over_subscription_ratio': '1.0', **options})
        for section, options in IMAGE_BACKENDS.items()}
    yield managers
    for section in managers:
        cinder.remove_backend(section)


def _from_image(cinder, manager, section, pool, image_id):
    from cinder import objects
    volume = cinder.new_volume(section)
    volume.host = 'cinder@%s#%s' % (section, pool)
    volume.save()
    manager.create_volume(cinder.context, volume, allow_reschedule=False,
                          request_spec=objects.RequestSpec(image_id=image_id))
    volume.refresh()
    assert volume.status == 'available'
    return volume


def test_a_volume_from_an_image_lands_in_its_scheduled_pool_cached_or_not(
        cinder, manager, image_backends, space, tmp_path):
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(1024 * 1024))
    image_id = cinder.images.add(raw, 'raw')
    made = [(manager, _from_image(cinder, manager, SECTION, pool, image_id))
            for pool in ('LocalDS_3', 'LocalDS_1')]     # the cache filled, then hit
    made += [(image_backends[section], _from_image(cinder, image_backends[section], section,
                                                   'LocalDS_2', image_id))
             for section in IMAGE_BACKENDS]
    try:
        assert [(volume.host, _datastore_name(owner.driver, read_backing(owner.driver, volume.id)))
                for owner, volume in made] == [
            ('cinder@%s#LocalDS_3' % SECTION, 'LocalDS_3'),
            ('cinder@%s#LocalDS_1' % SECTION, 'LocalDS_1'),
            ('cinder@pools-nocache#LocalDS_2', 'LocalDS_2'),
            ('cinder@pools-eager#LocalDS_2', 'LocalDS_2')]
    finally:
        for owner, volume in made:
            owner.delete_volume(cinder.context, volume)
