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

"""The driver as Cinder runs it: two backends, each a simulated vCenter, through VolumeManager.

create (nothing on vCenter) -> attach to an instance (backing created lazily, where the
instance's host sees it, in the project's folder) -> detach -> delete, with every extra spec.
"""

import pytest
from vmdk_volume_simkit.harness.cinder import PROJECT_ID

from tests import vcenter
from tests.cinder.helpers import NOVA_CONNECTOR, folder_path, read_backing, vm_to_attach


def _attach_and_delete(cinder, backend, instance, volume_type=None):
    """Serve one attach, so the driver is warm: its inventory, the project's folder, the
    task watcher and the type's storage policy are known, as on a running cinder-volume."""
    volume = cinder.create_volume(backend, volume_type=volume_type)
    manager = cinder.managers[backend]
    manager.initialize_connection(cinder.context, volume, dict(NOVA_CONNECTOR, instance=instance))
    manager.delete_volume(cinder.context, volume)


def test_both_backends_are_loaded_and_report_capacity(cinder):
    for name, manager in cinder.managers.items():
        assert manager.driver.initialized
        stats = manager.driver.get_volume_stats(refresh=True)
        assert stats['volume_backend_name'] == name
        assert stats['storage_protocol'] == 'vmdk'
        assert stats['total_capacity_gb'] > 0
        assert 0 < stats['free_capacity_gb'] <= stats['total_capacity_gb']


@pytest.mark.parametrize('backend', ['vc1', 'vc2'])
@pytest.mark.parametrize('extra_specs, disk_type, controller', [
    ({}, 'thin', 'VirtualLsiLogicController'),
    ({'vmware:vmdk_type': 'thick', 'vmware:adapter_type': 'paraVirtual'}, 'thick',
     'ParaVirtualSCSIController'),
    ({'vmware:vmdk_type': 'eagerZeroedThick', 'vmware:clone_type': 'linked',
      'vmware:adapter_type': 'lsiLogicsas'}, 'eagerZeroedThick',
     'VirtualLsiLogicSASController'),
    ({'vmware:storage_profile': 'vSAN Default Storage Policy',
      'vmware:adapter_type': 'busLogic'}, 'thin', 'VirtualBusLogicController'),
])
def test_create_attach_detach_delete(cinder, vcenters, backend, extra_specs, disk_type,
                                     controller):
    manager = cinder.managers[backend]
    driver = manager.driver
    vc = vcenters[backend]
    instance, instance_host = vm_to_attach(driver)
    vtype = cinder.volume_type('t-%s-%s' % (backend, abs(hash(str(extra_specs)))),
                               extra_specs)
    _attach_and_delete(cinder, backend, instance, vtype)   # the driver served this type before
    vc.reset_stats()
    volume = cinder.create_volume(backend, size_gb=2, volume_type=vtype)
    assert volume.status == 'available'
    assert vc.stats().total == 0                   # lazy: nothing on vCenter yet
    assert read_backing(driver, volume.id) is None

    vc.reset_stats()
    info = manager.initialize_connection(cinder.context, volume,
                                         dict(NOVA_CONNECTOR, instance=instance))
    attach_calls = vc.stats().calls

    backing = read_backing(driver, volume.id)
    assert info['driver_volume_type'] == 'vmdk'
    assert info['data']['volume_id'] == volume.id
    assert info['data']['name'] == volume.name
    assert (info['data']['profile_id'] is not None) == ('vmware:storage_profile' in extra_specs)
    assert backing['name'] == volume.name
    assert backing['config.instanceUuid'] == volume.id
    assert backing['config.managedBy'].extensionKey == 'org.openstack.storage'
    assert {o.key: o.value for o in backing['config.extraConfig'].OptionValue}[
        'cinder.volume.id'] == volume.id
    assert folder_path(vcenter.of(driver).client, backing['parent']) == (
        'OpenStack/Project (%s)/Volumes' % PROJECT_ID)
    devices = backing['config.hardware.device'].VirtualDevice
    disk = next(d for d in devices if type(d).__name__ == 'VirtualDisk')
    assert disk.capacityInKB == 2 * 1024 * 1024
    assert disk.backing.uuid == volume.id
    assert bool(disk.backing.thinProvisioned) == (disk_type == 'thin')
    assert bool(disk.backing.eagerlyScrub) == (disk_type == 'eagerZeroedThick')
    assert controller in {type(d).__name__ for d in devices}
    datastore = vcenter.of(driver).inventory().datastores[disk.backing.datastore.value]
    assert instance_host in datastore.usable_hosts()
    assert sum(attach_calls.values()) <= 6, attach_calls

    manager.terminate_connection(cinder.context, volume.id, NOVA_CONNECTOR)
    vc.reset_stats()
    manager.delete_volume(cinder.context, volume)
    assert read_backing(driver, volume.id) is None
    assert vc.stats().calls.get('Destroy_Task') == 1


COLD = 'vc1-restarted'


@pytest.mark.parametrize('project_id, folder', [
    (PROJECT_ID, 'Project (%s)' % PROJECT_ID),
    ('tenant/50%', 'Project (tenant%2f50%25)'),     # as vCenter stores '/' and '%'
])
def test_a_cold_drivers_first_attach_looks_the_folders_up_in_one_call(
        cinder, vcenters, project_id, folder):
    """cinder-volume restarted: its first attach, in a project whose folders exist, spends
    one call on them and none on the task watch (made at set-up)."""
    vc = vcenters['vc1']
    instance, _ = vm_to_attach(cinder.managers['vc1'].driver)
    connector = dict(NOVA_CONNECTOR, instance=instance)
    manager = cinder.add_backend(COLD, vc, {})
    earlier = cinder.create_volume(COLD, project_id=project_id)
    manager.initialize_connection(cinder.context, earlier, connector)   # makes the folders
    cinder.remove_backend(COLD)
    manager = cinder.add_backend(COLD, vc, {})
    volume = cinder.create_volume(COLD, project_id=project_id)
    try:
        vc.reset_stats()
        manager.initialize_connection(cinder.context, volume, connector)
        calls = vc.stats().calls

        backing = read_backing(manager.driver, volume.id)
        assert folder_path(vcenter.of(manager.driver).client, backing['parent']) == (
            'OpenStack/%s/Volumes' % folder)
        assert calls == {'FindAllByUuid': 1, 'RetrievePropertiesEx': 1,   # the inventory's
                         'FindByInventoryPath': 1, 'CreateVM_Task': 1,   # changes, the task
                         'WaitForUpdatesEx': 2}
    finally:
        for made in (earlier, volume):
            manager.terminate_connection(cinder.context, made.id, NOVA_CONNECTOR)
            manager.delete_volume(cinder.context, made)
        cinder.remove_backend(COLD)


@pytest.mark.parametrize('extra_specs, message', [
    ({'vmware:vmdk_type': 'fat'}, "vmware:vmdk_type='fat'"),
    ({'vmware:clone_type': 'shallow'}, "vmware:clone_type='shallow'"),
    ({'vmware:adapter_type': 'nvme'}, "vmware:adapter_type='nvme'"),
])
def test_bad_extra_spec_fails_at_create_with_the_spec_named(cinder, vcenters, extra_specs,
                                                           message):
    from cinder import exception
    vtype = cinder.volume_type('bad-%s' % abs(hash(str(extra_specs))), extra_specs)
    volume = cinder.new_volume('vc1', volume_type=vtype)
    with pytest.raises(exception.InvalidVolumeType, match=message):
        cinder.managers['vc1'].driver.create_volume(volume)

    vcenters['vc1'].reset_stats()
    with pytest.raises(exception.InvalidVolumeType):
        cinder.managers['vc1'].create_volume(cinder.context, volume)
    volume.refresh()
    assert volume.status == 'error'
    assert vcenters['vc1'].stats().total == 0
