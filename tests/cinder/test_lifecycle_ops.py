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

"""Clones, snapshots (both formats), volumes from snapshots, extend, revert and transfer,
through Cinder's VolumeManager on the simulated vCenters, with their SOAP calls."""

import pytest
from cinder import exception, objects

from tests import vcenter
from tests.cinder.helpers import (
    NOVA_CONNECTOR,
    attached_once,
    first_disk,
    read_backing,
    vm_to_attach,
)
from vmdk_volume.vsphere import errors, properties

GiB = 1024 ** 3


def _create_from(cinder, backend, size_gb=1, volume_type=None, **source):
    volume = cinder.new_volume(backend, size_gb=size_gb, volume_type=volume_type, **source)
    cinder.managers[backend].create_volume(cinder.context, volume)
    volume.refresh()
    return volume


def test_full_clone_takes_the_new_type_and_one_clone_task(cinder, vcenters):
    source = attached_once(cinder, 'vc1')
    thick = cinder.volume_type('clone-thick', {'vmware:vmdk_type': 'thick'})
    vcenters['vc1'].reset_stats()

    clone = _create_from(cinder, 'vc1', volume_type=thick, source_volid=source.id)

    calls = vcenters['vc1'].stats().calls
    backing = read_backing(cinder.managers['vc1'].driver, clone.id)
    assert clone.status == 'available'
    assert backing['config.instanceUuid'] == clone.id
    assert first_disk(backing).backing.uuid == clone.id
    assert not first_disk(backing).backing.thinProvisioned
    assert calls['CloneVM_Task'] == 1
    assert sum(calls.values()) <= 5, calls


def test_clone_of_a_lazy_volume_is_lazy(cinder, vcenters):
    source = cinder.create_volume('vc1')
    vcenters['vc1'].reset_stats()
    clone = _create_from(cinder, 'vc1', source_volid=source.id)
    assert clone.status == 'available' and clone.provider_location is None
    assert vcenters['vc1'].stats().calls == {'FindAllByUuid': 1}


def test_linked_clone_shares_the_source_disk(cinder):
    source = attached_once(cinder, 'vc1')
    linked = cinder.volume_type('clone-linked', {'vmware:clone_type': 'linked'})
    clone = _create_from(cinder, 'vc1', volume_type=linked, source_volid=source.id)
    assert clone.status == 'available'
    assert read_backing(cinder.managers['vc1'].driver, clone.id)['config.instanceUuid'] == clone.id


def test_linked_clone_larger_than_its_source_is_refused(cinder):
    source = attached_once(cinder, 'vc1')
    linked = cinder.volume_type('clone-linked-big', {'vmware:clone_type': 'linked'})
    volume = cinder.new_volume('vc1', size_gb=2, volume_type=linked, source_volid=source.id)
    with pytest.raises(exception.InvalidVolume, match='cannot be larger'):
        cinder.managers['vc1'].driver.create_cloned_volume(volume, source)


def test_full_clone_larger_than_its_source_is_grown(cinder):
    source = attached_once(cinder, 'vc1')
    clone = _create_from(cinder, 'vc1', size_gb=3, source_volid=source.id)
    disk = first_disk(read_backing(cinder.managers['vc1'].driver, clone.id))
    assert disk.capacityInKB == 3 * 1024 ** 2


def test_template_snapshot_and_a_volume_from_it(cinder, vcenters):
    source = attached_once(cinder, 'vc1')
    cinder.managers['vc1'].delete_snapshot(cinder.context, cinder.create_snapshot('vc1', source))
    vcenters['vc1'].reset_stats()     # warm: the project's Snapshots folder is known
    snapshot = cinder.create_snapshot('vc1', source)
    snapshot_calls = vcenters['vc1'].stats().calls
    assert snapshot.status == 'available'
    assert snapshot.provider_location.startswith('template:')
    assert sum(snapshot_calls.values()) <= 5, snapshot_calls

    vcenters['vc1'].reset_stats()
    volume = _create_from(cinder, 'vc1', snapshot_id=snapshot.id)
    from_snapshot_calls = vcenters['vc1'].stats().calls
    assert volume.status == 'available'
    backing = read_backing(cinder.managers['vc1'].driver, volume.id)
    assert backing['config.instanceUuid'] == volume.id
    assert sum(from_snapshot_calls.values()) <= 8, from_snapshot_calls

    cinder.managers['vc1'].delete_snapshot(cinder.context, snapshot)
    assert read_backing(cinder.managers['vc1'].driver, snapshot.id) is None


def test_cow_snapshot_volume_from_it_revert_and_delete(cinder, vcenters):
    manager = cinder.managers['vc2']
    source = attached_once(cinder, 'vc2')
    snapshot = cinder.create_snapshot('vc2', source)
    assert snapshot.provider_location.startswith('cow:')
    assert read_backing(manager.driver, source.id) is not None

    volume = _create_from(cinder, 'vc2', snapshot_id=snapshot.id)
    assert volume.status == 'available'
    assert read_backing(manager.driver, volume.id)['config.instanceUuid'] == volume.id

    manager.driver.revert_to_snapshot(cinder.context, source, snapshot)
    manager.delete_snapshot(cinder.context, snapshot)
    client = vcenter.of(manager.driver).client
    with pytest.raises(errors.NotFound):
        client.call('RemoveSnapshot_Task', client.ref('VirtualMachineSnapshot',
                                                      snapshot.provider_location[4:]),
                    removeChildren=False)


def test_extend_grows_the_disk_with_one_task(cinder, vcenters):
    volume = attached_once(cinder, 'vc1')
    driver = cinder.managers['vc1'].driver
    vcenters['vc1'].reset_stats()
    driver.extend_volume(volume, 3)
    calls = vcenters['vc1'].stats().calls
    assert first_disk(read_backing(driver, volume.id)).capacityInKB == 3 * 1024 ** 2
    assert calls['ExtendVirtualDisk_Task'] == 1
    assert sum(calls.values()) <= 3, calls


def _file(device) -> str | None:
    return getattr(getattr(device, 'backing', None), 'fileName', None)


def _nova_attaches(client, instance: str, vmdk_path: str, attach: bool):
    """What Nova's vmwareapi does to the instance: add the backing's disk file (on a new
    SCSI controller), or remove it again."""
    vm = client.ref('VirtualMachine', instance)
    devices = properties.fetch_one(client, vm, ['config.hardware.device'])[
        'config.hardware.device'].VirtualDevice
    if attach:
        controller = client.create('ParaVirtualSCSIController', key=-100, busNumber=3,
                                   sharedBus='noSharing')
        disk = client.create('VirtualDisk', key=-101, controllerKey=-100, unitNumber=0,
                             capacityInKB=0, backing=client.create(
                                 'VirtualDiskFlatVer2BackingInfo', fileName=vmdk_path,
                                 diskMode='persistent'))
        changes = [client.create('VirtualDeviceConfigSpec', operation='add', device=device)
                   for device in (controller, disk)]
    else:
        disk = next(d for d in devices if _file(d) == vmdk_path)
        controller = next(d for d in devices if d.key == disk.controllerKey)
        changes = [client.create('VirtualDeviceConfigSpec', operation='remove', device=device)
                   for device in (disk, controller)]
    client.run('ReconfigVM_Task', vm, spec=client.create('VirtualMachineConfigSpec',
                                                         deviceChange=changes))
    return devices


def test_extend_of_an_attached_volume_grows_the_disk_through_its_instance(cinder, vcenters):
    manager = cinder.managers['vc1']
    driver, client = manager.driver, vcenter.of(manager.driver).client
    volume = cinder.create_volume('vc1')
    instance, _ = vm_to_attach(driver)
    connector = dict(NOVA_CONNECTOR, instance=instance)
    ref = manager.initialize_connection(cinder.context, volume, connector)['data']['volume']
    path = vcenter.of(driver).describe(ref).vmdk_path
    _nova_attaches(client, instance, path, attach=True)
    objects.VolumeAttachment(cinder.context, volume_id=volume.id, attach_status='attached',
                             connector=connector, attach_mode='rw').create()
    volume.refresh()
    volume.update({'status': 'extending', 'previous_status': 'in-use'})
    volume.save()
    try:
        vcenters['vc1'].reset_stats()
        manager.extend_volume(cinder.context, volume, 2, None)
        calls = vcenters['vc1'].stats().calls
        disk = next(d for d in _nova_attaches(client, instance, path, attach=False)
                    if _file(d) == path)
    finally:
        volume.refresh()
    assert disk.capacityInKB == 2 * 1024 ** 2
    assert (volume.status, volume.size) == ('in-use', 2)
    assert calls['ReconfigVM_Task'] == 1 and 'ExtendVirtualDisk_Task' not in calls
    assert sum(calls.values()) <= 4, calls
    assert driver.get_volume_stats(refresh=True)['online_extend_support'] is True


def test_extend_of_a_volume_attached_outside_an_instance_is_refused(cinder):
    manager = cinder.managers['vc1']
    volume = attached_once(cinder, 'vc1')
    objects.VolumeAttachment(cinder.context, volume_id=volume.id, attach_status='attached',
                             connector={'host': 'backup-1'}, attach_mode='rw').create()
    volume.refresh()
    with pytest.raises(exception.InvalidVolume, match='names no vCenter VM'):
        manager.driver.extend_volume(volume, 2)


def test_extend_of_a_lazy_volume_needs_no_call(cinder, vcenters):
    volume = cinder.create_volume('vc1')
    vcenters['vc1'].reset_stats()
    cinder.managers['vc1'].driver.extend_volume(volume, 2)
    assert vcenters['vc1'].stats().calls == {'FindAllByUuid': 1}


def test_transfer_of_a_lazy_volume_through_cinders_manager_needs_one_call(cinder, vcenters):
    """Cinder's VolumeManager hands the driver the volume's database row, not an object."""
    volume = cinder.create_volume('vc1')
    vcenters['vc1'].reset_stats()
    cinder.managers['vc1'].accept_transfer(cinder.context, volume.id, 'u2', 'p-new')
    assert vcenters['vc1'].stats().calls == {'FindAllByUuid': 1}


def test_transfer_files_the_backing_under_the_new_project(cinder):
    volume = attached_once(cinder, 'vc1')
    driver = cinder.managers['vc1'].driver
    driver.accept_transfer(cinder.context, volume, 'u2', 'p-new')
    client = vcenter.of(driver).client
    folder = read_backing(driver, volume.id)['parent']
    assert properties.fetch_one(client, folder, ['name'])['name'] == 'Volumes'
    project = properties.fetch_one(client, folder, ['parent'])['parent']
    assert properties.fetch_one(client, project, ['name'])['name'] == 'Project (p-new)'
