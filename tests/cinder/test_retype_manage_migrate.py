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

"""Retype, manage/unmanage (volumes and snapshots) and migration through Cinder's
VolumeManager: vc1 and vc2 are two vCenters, vc1b a second backend on vc1's vCenter."""

import pytest
from cinder import exception, objects

from tests import vcenter
from tests.cinder.helpers import (
    NOVA_CONNECTOR,
    attached_once,
    first_disk,
    read_backing,
    scheduler_host,
    vm_to_attach,
)

GiB = 1024 ** 3


def _retype(cinder, volume, vtype, backend='vc1'):
    volume.status, volume.previous_status = 'retyping', volume.status
    volume.save()
    cinder.managers[backend].retype(cinder.context, volume, vtype['id'],
                                    scheduler_host(cinder, backend), migration_policy='never')
    volume.refresh()


def test_retype_to_thick_relocates_with_one_task(cinder, vcenters):
    volume = attached_once(cinder, 'vc1')
    thick = cinder.volume_type('retype-thick', {'vmware:vmdk_type': 'thick'})
    driver = cinder.managers['vc1'].driver
    before = read_backing(driver, volume.id)['datastore'].ManagedObjectReference
    vcenters['vc1'].reset_stats()

    _retype(cinder, volume, thick)

    calls = vcenters['vc1'].stats().calls
    backing = read_backing(driver, volume.id)
    assert volume.volume_type_id == thick['id'] and volume.status == 'available'
    assert not first_disk(backing).backing.thinProvisioned
    assert backing['datastore'].ManagedObjectReference != before
    assert calls['RelocateVM_Task'] == 1
    assert sum(calls.values()) <= 5, calls


def test_retype_of_a_lazy_volume_only_checks_the_type(cinder, vcenters):
    volume = cinder.create_volume('vc1')
    thick = cinder.volume_type('retype-lazy', {'vmware:vmdk_type': 'eagerZeroedThick'})
    vcenters['vc1'].reset_stats()
    _retype(cinder, volume, thick)
    assert volume.volume_type_id == thick['id']
    assert vcenters['vc1'].stats().calls == {'FindAllByUuid': 1}


def test_retype_to_an_invalid_type_is_refused(cinder):
    volume = cinder.create_volume('vc1')
    bad = objects.VolumeType.get_by_id(cinder.context, cinder.volume_type(
        'retype-bad', {'vmware:vmdk_type': 'sparse'})['id'])     # as the manager passes it
    with pytest.raises(exception.InvalidVolumeType, match='vmware:vmdk_type'):
        cinder.managers['vc1'].driver.retype(cinder.context, volume, bad, {},
                                             scheduler_host(cinder, 'vc1'))


def test_retype_for_another_backend_is_left_to_migration(cinder):
    volume = attached_once(cinder, 'vc1')
    thick = objects.VolumeType.get_by_id(cinder.context, cinder.volume_type(
        'retype-elsewhere', {'vmware:vmdk_type': 'thick'})['id'])
    assert cinder.managers['vc1'].driver.retype(cinder.context, volume, thick, {},
                                                scheduler_host(cinder, 'vc2')) is False


def test_migration_within_a_vcenter_relocates_to_the_target_datastores(cinder):
    volume = attached_once(cinder, 'vc1')
    manager = cinder.managers['vc1']
    manager.migrate_volume(cinder.context, volume, scheduler_host(cinder, 'vc1b'))
    volume.refresh()
    assert volume.host == 'cinder@vc1b#vc1b' and volume.migration_status == 'success'
    target = cinder.managers['vc1b'].driver
    backing = read_backing(target, volume.id)
    [datastore] = backing['datastore'].ManagedObjectReference
    assert vcenter.of(target).inventory().datastores[datastore.value].name == 'LocalDS_2'
    cinder.managers['vc1b'].delete_volume(cinder.context, volume)
    assert read_backing(target, volume.id) is None


def test_a_generically_migrated_volume_uses_the_new_backing(cinder):
    manager = cinder.managers['vc2']
    original, new = attached_once(cinder, 'vc2'), attached_once(cinder, 'vc2')
    old_ref, new_ref = original.provider_location, new.provider_location
    manager.update_migrated_volume(cinder.context, original, new, 'available')
    original.refresh()
    assert original.name_id == new.id
    temporary = original.finish_volume_migration(new)   # what migrate_volume_completion does
    original.refresh()
    original.provider_location = None                   # lookups by name_id alone
    vm, _ = vm_to_attach(manager.driver)
    info = manager.driver.initialize_connection(original, dict(NOVA_CONNECTOR, instance=vm))
    assert info['data']['volume'] == new_ref
    temporary.provider_location = None
    manager.driver.delete_volume(temporary)
    assert read_backing(manager.driver, original.name_id)['config.instanceUuid'] == new.id
    assert read_backing(manager.driver, temporary.name_id) is None and old_ref != new_ref


def _manageable(cinder, backend):
    """The listing as Cinder's API receives it (Cinder's ManageableVolume objects)."""
    return cinder.managers[backend].get_manageable_volumes(
        cinder.context, None, 1000, 0, ['reference'], ['asc'], want_objects=True)


def _managing(cinder):
    """A volume row as Cinder's API makes it for ``manage`` on vc1."""
    volume = objects.Volume(context=cinder.context, size=0, status='managing',
                            attach_status='detached', host='cinder@vc1#vc1',
                            project_id=cinder.context.project_id, user_id='u',
                            availability_zone='nova')
    volume.create()
    return volume


def test_manage_and_unmanage_a_vm(cinder, vcenters):
    manager, driver = cinder.managers['vc1'], cinder.managers['vc1'].driver
    donor = attached_once(cinder, 'vc1')
    manager.delete_volume(cinder.context, donor, unmanage_only=True)   # now an unmanaged VM
    entries = {e['reference']['source-id']: e for e in _manageable(cinder, 'vc1')}
    assert entries[donor.provider_location]['safe_to_manage'] is True
    info = entries[donor.provider_location]['extra_info']     # a dict, as Cinder's API needs
    assert sorted(info) == ['disk', 'name'] and info['disk'].endswith('.vmdk')
    assert any(e['reason_not_safe'] and 'powered' in e['reason_not_safe']
               for e in entries.values())

    volume = _managing(cinder)
    manager.manage_existing(cinder.context, volume, {'source-id': donor.provider_location})
    volume.refresh()

    assert volume.status == 'available' and volume.size == 1
    backing = read_backing(driver, volume.id)
    assert backing['name'] == volume.name
    entries = {e['reference']['source-id']: e for e in _manageable(cinder, 'vc1')}
    assert entries[donor.provider_location]['cinder_id'] == volume.id
    assert entries[donor.provider_location]['safe_to_manage'] is False


def test_an_unmanaged_lazy_volume_can_be_managed_again(cinder, vcenters):
    """Cinder's unmanage leaves the volume on the storage: a volume never attached (no
    backing yet) leaves an empty VM of its size, which manage by name takes back (Tempest's
    test_unmanage_manage_volume)."""
    manager = cinder.managers['vc1']
    lazy = cinder.create_volume('vc1', size_gb=2)
    manager.delete_volume(cinder.context, lazy, unmanage_only=True)
    volume = _managing(cinder)
    manager.manage_existing(cinder.context, volume, {'source-name': lazy.name})
    volume.refresh()
    assert volume.status == 'available' and volume.size == 2
    assert read_backing(manager.driver, volume.id)['name'] == volume.name


def test_managing_a_running_vm_is_refused(cinder):
    running = next(e for e in _manageable(cinder, 'vc1')
                   if e['reason_not_safe'] and 'powered' in e['reason_not_safe'])
    volume = cinder.new_volume('vc1')
    with pytest.raises(exception.ManageExistingInvalidReference, match='power it off'):
        cinder.managers['vc1'].driver.manage_existing(volume, running['reference'])


def test_manage_a_vm_snapshot_of_a_backing(cinder):
    manager, driver = cinder.managers['vc2'], cinder.managers['vc2'].driver
    volume = attached_once(cinder, 'vc2')
    snap = vcenter.of(driver).snapshot(volume.provider_location, 'made-outside')
    listed = manager.get_manageable_snapshots(cinder.context, None, 1000, 0, ['reference'],
                                              ['asc'], want_objects=True)
    entry = next(e for e in listed if e['reference'] == {'source-id': snap})
    assert entry['safe_to_manage'] is True
    snapshot = objects.Snapshot(context=cinder.context, volume_id=volume.id,
                                volume_size=volume.size, status='creating',
                                project_id=volume.project_id, user_id='u')
    snapshot.create()
    update = driver.manage_existing_snapshot(snapshot, {'source-name': 'made-outside'})
    assert update == {'provider_location': 'cow:%s' % snap}
    assert driver.manage_existing_snapshot_get_size(snapshot, {'source-id': snap}) == 1
    with pytest.raises(exception.ManageExistingInvalidReference, match='no snapshot'):
        driver.manage_existing_snapshot(snapshot, {'source-name': 'never-made'})
