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

"""Volumes moved between vCenters through Cinder's VolumeManager (``migrate_volume``, and
``retype`` with on-demand migration): vc1 and vc2 are two vCenters in this process's
cinder.conf, vc3 a third behind the fault proxy, which cuts the stream mid-way."""

import logging

import pytest
from cinder import exception, objects
from vmdk_volume_simkit import ModelSize
from vmdk_volume_simkit.faults import Fault, FaultKind, FaultProxy

from tests import vcenter
from tests.cinder.helpers import (
    attached_once,
    first_disk,
    folder_path,
    read_backing,
    stream_optimized,
    volume_bytes,
)

MiB = 1024 ** 2


def _host(cinder, backend, node='cinder'):
    return {'host': '%s@%s#%s' % (node, backend, backend),
            'capabilities': cinder.managers[backend].driver.get_volume_stats()}


def _from_image(cinder, backend, tmp_path):
    """A volume made from a streamOptimized image of random bytes, and those bytes."""
    data, vmdk = stream_optimized(tmp_path, 'across-%s' % backend)
    image_id = cinder.images.add(vmdk, 'vmdk', vmware_disktype='streamOptimized')
    volume = cinder.new_volume(backend)
    cinder.managers[backend].create_volume(
        cinder.context, volume, request_spec=objects.RequestSpec(image_id=image_id))
    volume.refresh()
    assert volume.status == 'available'
    return volume, data


def _migrate(cinder, volume, source, target):
    cinder.managers[source].migrate_volume(cinder.context, volume, _host(cinder, target))
    volume.refresh()


def test_a_lazy_volume_moves_with_no_call_on_the_target(cinder, vcenters):
    volume = cinder.create_volume('vc1')
    for vc in vcenters.values():
        vc.reset_stats()
    _migrate(cinder, volume, 'vc1', 'vc2')
    assert (volume.host, volume.migration_status) == ('cinder@vc2#vc2', 'success')
    assert vcenters['vc2'].stats().calls == {}
    assert vcenters['vc1'].stats().calls == {'FindAllByUuid': 1}   # no backing made since


def test_a_volume_from_an_image_moves_with_its_bytes(cinder, vcenters, tmp_path):
    volume, data = _from_image(cinder, 'vc1', tmp_path)
    source, target = cinder.managers['vc1'].driver, cinder.managers['vc2'].driver
    for vc in vcenters.values():
        vc.reset_stats()

    _migrate(cinder, volume, 'vc1', 'vc2')

    assert (volume.host, volume.migration_status) == ('cinder@vc2#vc2', 'success')
    assert read_backing(source, volume.id) is None
    landed = read_backing(target, volume.id)
    assert volume.provider_location == vcenter.of(target).backings.find(volume.id)
    assert landed['name'] == volume.name
    assert folder_path(vcenter.of(target).client, landed['parent']) == (
        'OpenStack/Project (%s)/Volumes' % volume.project_id)
    calls = vcenters['vc2'].stats().calls
    assert calls['ImportVApp'] == 1 and calls['Login'] == calls['Logout'] == 1, calls
    assert vcenters['vc1'].stats().calls['ExportVm'] == 1
    assert volume_bytes(cinder, cinder.managers['vc2'], volume, tmp_path)[:len(data)] == data
    cinder.managers['vc2'].delete_volume(cinder.context, volume)


@pytest.mark.parametrize('datastore', ['LocalDS_0', 'LocalDS_1'])
def test_the_target_places_the_backing_by_the_types_storage_policy(cinder, vcenters,
                                                                   datastore):
    policy = 'vSAN Default Storage Policy'
    kind = cinder.volume_type('across-policy-%s' % datastore, {
        'vmware:storage_profile': policy, 'vmware:vmdk_type': 'thick'})
    volume = attached_once(cinder, 'vc1', volume_type=kind)
    vcenters['vc2'].restrict_policy(policy, (datastore,))
    try:
        _migrate(cinder, volume, 'vc1', 'vc2')
    finally:
        vcenters['vc2'].restrict_policy(policy, None)
    target = cinder.managers['vc2'].driver
    disk = first_disk(read_backing(target, volume.id))
    assert volume.migration_status == 'success'
    assert vcenter.of(target).backend.inventory().datastores[
        disk.backing.datastore.value].name == datastore
    assert not disk.backing.thinProvisioned
    cinder.managers['vc2'].delete_volume(cinder.context, volume)


@pytest.fixture(scope='module')
def vc2_pools(cinder, vcenters):
    """vc2 as a backend reporting a pool per datastore."""
    cinder.add_backend('vc2p', vcenters['vc2'], {'vmware_pools': 'datastore'})
    yield cinder.managers['vc2p'].driver
    cinder.remove_backend('vc2p')


@pytest.mark.parametrize('chosen', ['LocalDS_0', 'LocalDS_1'])
def test_the_backing_lands_in_the_pool_the_scheduler_chose(cinder, vc2_pools, chosen):
    stats = vc2_pools.get_volume_stats(refresh=True)
    pool = next(p for p in stats['pools'] if p['pool_name'] == chosen)
    host = {'host': 'cinder@vc2p#%s' % chosen,
            'capabilities': dict(pool, volume_backend_name=stats['volume_backend_name'])}
    volume = attached_once(cinder, 'vc1')
    cinder.managers['vc1'].migrate_volume(cinder.context, volume, host)
    volume.refresh()
    disk = first_disk(read_backing(vc2_pools, volume.id))
    assert (volume.host, volume.migration_status) == ('cinder@vc2p#' + chosen, 'success')
    assert vcenter.of(vc2_pools).backend.inventory().datastores[
        disk.backing.datastore.value].name == chosen
    cinder.managers['vc2p'].delete_volume(cinder.context, volume)


def test_retype_to_a_type_of_another_backend_moves_the_volume(cinder, vcenters):
    here = cinder.volume_type('across-vc1', {'volume_backend_name': 'vc1'})
    there = cinder.volume_type('across-vc2', {'volume_backend_name': 'vc2'})
    volume = attached_once(cinder, 'vc1', volume_type=here)
    volume.status, volume.previous_status = 'retyping', volume.status
    volume.save()

    cinder.managers['vc1'].retype(cinder.context, volume, there['id'], _host(cinder, 'vc2'),
                                  migration_policy='on-demand')

    volume.refresh()
    assert (volume.host, volume.volume_type_id, volume.status) == (
        'cinder@vc2#vc2', there['id'], 'available')
    assert read_backing(cinder.managers['vc1'].driver, volume.id) is None
    assert vcenter.of(cinder.managers['vc2'].driver).backings.find(volume.id) == \
        volume.provider_location
    cinder.managers['vc2'].delete_volume(cinder.context, volume)


def test_a_volume_with_snapshots_is_refused(cinder):
    volume = attached_once(cinder, 'vc1')
    cinder.create_snapshot('vc1', volume)
    with pytest.raises(exception.InvalidVolume, match='1 snapshot.*delete them first'):
        _migrate(cinder, volume, 'vc1', 'vc2')
    assert volume.migration_status == 'error' and volume.host == 'cinder@vc1#vc1'
    assert read_backing(cinder.managers['vc2'].driver, volume.id) is None


def test_a_backend_of_another_cinder_volume_is_declined_with_why(cinder, caplog):
    volume = attached_once(cinder, 'vc1')
    with caplog.at_level(logging.WARNING, logger='vmdk_volume'):
        assert cinder.managers['vc1'].driver.migrate_volume(
            cinder.context, volume, _host(cinder, 'vc2', node='elsewhere')) == (False, None)
    [warning] = [r.getMessage() for r in caplog.records if 'migration to' in r.getMessage()]
    assert "cinder-volume of elsewhere" in warning
    assert "with open(path, 'r') as dev: dev.read(1)" in warning
    assert 'UnicodeDecodeError' in warning


def test_a_backend_of_another_node_of_the_cluster_is_served_here(cinder, monkeypatch):
    """In a cluster (``[DEFAULT] cluster``, which Cinder's manager gives its driver) the
    scheduler may name another node's host for a backend this process serves too."""
    volume, driver = attached_once(cinder, 'vc1'), cinder.managers['vc1'].driver
    monkeypatch.setattr(driver, 'cluster_name', 'stack@vc1')
    elsewhere = _host(cinder, 'vc2', node='elsewhere')
    assert driver.migrate_volume(cinder.context, volume, dict(
        elsewhere, cluster_name='other@vc2')) == (False, None)
    moved, update = driver.migrate_volume(cinder.context, volume, dict(
        elsewhere, cluster_name='stack@vc2#vc2'))
    volume.update(dict(update, host='cinder@vc2#vc2'))     # as Cinder's manager records it
    volume.save()
    assert moved and read_backing(cinder.managers['vc2'].driver, volume.id)['name'] == \
        volume.name


@pytest.fixture(scope='module')
def vc3(cinder, tmp_path_factory):
    """A third vCenter behind the fault proxy, as backend vc3 of this cinder-volume."""
    with FaultProxy(tmp_path_factory.mktemp('vc3'), ModelSize(hosts=1, datastores=1)) as proxy:
        cinder.add_backend('vc3', proxy, {})
        yield proxy
        proxy.arm(None)
        cinder.remove_backend('vc3')


@pytest.mark.parametrize('source, target, cut, named', [
    ('vc3', 'vc1', 'nfc-download', 'export'),     # the export from the source breaks off
    ('vc1', 'vc3', 'nfc-upload', 'upload'),       # the import into the target breaks off
])
def test_a_stream_cut_mid_way_leaves_the_source_whole(cinder, vcenters, vc3, tmp_path, source,
                                                        target, cut, named):
    volume, data = _from_image(cinder, source, tmp_path)
    vcenters['vc1'].reset_stats()
    vc3.arm(Fault(cut, FaultKind.CUT_TRANSFER, at_byte=MiB))

    with pytest.raises(exception.VolumeMigrationFailed,
                       match='%s of %s from vCenter' % (named, volume.name)):
        _migrate(cinder, volume, source, target)

    assert vc3.fired
    assert volume.migration_status == 'error' and volume.host == 'cinder@%s#%s' % (
        source, source)
    assert read_backing(cinder.managers[target].driver, volume.id) is None
    _migrate(cinder, volume, source, target)      # nothing lost: it moves once uncut
    assert volume.migration_status == 'success'
    calls = vcenters['vc1'].stats().calls
    assert calls.get('Login', 0) == calls.get('Logout', 0) == (2 if target == 'vc1' else 0)
    assert volume_bytes(cinder, cinder.managers[target], volume, tmp_path)[:len(data)] == data
    cinder.managers[target].delete_volume(cinder.context, volume)
