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

"""Copies of a volume that Nova's own code attached to a powered-on instance, whose disk
vSphere then locks: template snapshots and clones are taken through the instance (a clone of
it keeping only the volume's disk), COW snapshots are refused, and once the instance is
powered off the copies still hold the volume's data. Fixtures in ``conftest``, Nova's attach
in ``nova_attach``."""

import subprocess

import pytest
from cinder import exception, objects
from os_brick.initiator.connectors import vmware as brick_vmware
from oslo_config import cfg

from tests import vcenter
from tests.cinder.helpers import BRICK_CONNECTOR, RAW, disk_file, vm_names
from tests.cinder.nova_attach import attach, detach, disks, instances, storage_vmotion, volume_disk
from tests.cinder.nova_compute import NovaCompute
from vmdk_volume.vsphere import properties

AFTER = b'written after the copy\n' * 1024


def disk_files(client, ref: str) -> list[tuple]:
    """The VM's disks: key, file and uuid of each."""
    return [(d.key, d.backing.fileName, d.backing.uuid) for d in disks(client, ref)]


def vm(client, ref: str, *paths: str) -> dict:
    return properties.fetch_one(client, client.ref('VirtualMachine', ref), paths)


def marks(client, ref: str) -> dict:
    return properties.options(vm(client, ref, 'config.extraConfig')['config.extraConfig'])


def nova_options(options: dict) -> list[str]:
    """The keys of ``options`` that Nova's vmwareapi sets on its instances."""
    return [key for key in options if key.startswith(('nvp.', 'volume-'))]


def attached_with_data(cinder, api, nova, ctx, client, before, backend='vc1'):
    """A volume Nova attached to a powered-on instance, ``before`` in its disk."""
    volume = cinder.create_volume(backend)
    instance = instances(client)[0]
    attached = attach(api, nova, ctx, volume, instance)
    disk_file(client, volume_disk(client, instance.ref, volume.id)).write_bytes(before)
    return volume, attached


def new_volume(cinder, backend='vc1', **source):
    volume = cinder.new_volume(backend, **source)
    cinder.managers[backend].create_volume(cinder.context, volume)
    volume.refresh()
    return volume


def backing_data(cinder, client, volume) -> bytes:
    backing = vcenter.of(cinder.managers['vc1'].driver).find(volume.id)
    return disk_file(client, disks(client, backing)[0]).read_bytes()


def test_template_snapshot_of_an_attached_volume_is_a_disk_only_clone_of_the_instance(
        cinder, api, nova, service_context, before, client, vcenters):
    manager = cinder.managers['vc1']
    volume, attached = attached_with_data(cinder, api, nova, service_context, client, before)
    instance_disks = disk_files(client, attached.instance.ref)
    vcenters['vc1'].reset_stats()

    snapshot = cinder.create_snapshot('vc1', volume)

    calls = vcenters['vc1'].stats().calls
    assert snapshot.status == 'available'
    assert calls['CloneVM_Task'] == 1 and 'CreateSnapshot_Task' not in calls, calls
    assert calls['RetrievePropertiesEx'] == 1, calls    # both VMs' devices, with the marks
    disk_file(client, volume_disk(client, attached.instance.ref, volume.id)).write_bytes(AFTER)
    template = snapshot.provider_location.split(':', 1)[1]
    props = vm(client, template, 'config.template', 'config.instanceUuid')
    assert props == {'config.template': True, 'config.instanceUuid': snapshot.id}
    assert marks(client, template)['cinder.volume.id'] == snapshot.id
    assert 'volume-%s' % volume.id in marks(client, attached.instance.ref)
    assert nova_options(marks(client, template)) == []   # not taken for the instance by Nova
    [disk] = disks(client, template)             # the instance's other disks left out
    assert disk.backing.uuid == snapshot.id
    assert disk_file(client, disk).read_bytes() == before
    assert disk_files(client, attached.instance.ref) == instance_disks   # untouched

    from_snapshot = new_volume(cinder, snapshot_id=snapshot.id)
    assert from_snapshot.status == 'available'
    assert backing_data(cinder, client, from_snapshot) == before

    manager.delete_volume(cinder.context, from_snapshot)
    manager.delete_snapshot(cinder.context, snapshot)
    detach(api, nova, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


@pytest.fixture(scope='module')
def nova_vc2(vcenters):
    """A nova-compute child on vc2, whose backend keeps snapshots as VM snapshots (COW)."""
    compute = NovaCompute(vcenters['vc2'])
    yield compute
    compute.close()


def test_cow_snapshot_of_an_attached_volume_is_refused_naming_the_alternatives(
        cinder, api, nova_vc2, service_context, before, vcenters):
    manager = cinder.managers['vc2']
    client = vcenter.of(manager.driver).client
    volume, attached = attached_with_data(cinder, api, nova_vc2, service_context, client, before,
                                          backend='vc2')
    snapshot = objects.Snapshot(context=cinder.context, volume_id=volume.id,
                                volume_size=volume.size, status='creating',
                                project_id=volume.project_id, user_id=volume.user_id)
    snapshot.create()
    vcenters['vc2'].reset_stats()

    with pytest.raises(exception.InvalidSnapshot,
                       match='attached to instance %s.*FileLocked.*detach the volume first, '
                             'or keep snapshots as templates' % attached.instance.ref):
        manager.create_snapshot(cinder.context, snapshot)

    assert vcenters['vc2'].stats().calls == {}, 'the refusal made SOAP calls'
    snapshot.refresh()
    assert snapshot.status == 'error'
    assert not vm(client, attached.backing, 'snapshot')
    assert not vm(client, attached.instance.ref, 'snapshot')
    manager.delete_snapshot(cinder.context, snapshot)
    detach(api, nova_vc2, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


def test_cow_snapshot_is_refused_while_the_instance_is_powered_off_too(
        cinder, api, nova_vc2, service_context, before, vcenters):
    """vSphere would take it (no lock), but the instance, once started, would write to the
    disk the snapshot froze under the backing's new delta disk."""
    manager = cinder.managers['vc2']
    client = vcenter.of(manager.driver).client
    volume, attached = attached_with_data(cinder, api, nova_vc2, service_context, client, before,
                                          backend='vc2')
    instance = client.ref('VirtualMachine', attached.instance.ref)
    client.run('PowerOffVM_Task', instance)
    snapshot = objects.Snapshot(context=cinder.context, volume_id=volume.id,
                                volume_size=volume.size, status='creating',
                                project_id=volume.project_id, user_id=volume.user_id)
    snapshot.create()
    vcenters['vc2'].reset_stats()
    try:
        with pytest.raises(exception.InvalidSnapshot,
                           match='attached to instance %s.*while the instance is off would '
                                 'freeze the disk' % attached.instance.ref):
            manager.create_snapshot(cinder.context, snapshot)
        assert vcenters['vc2'].stats().calls == {}, 'the refusal made SOAP calls'
    finally:
        client.run('PowerOnVM_Task', instance)
    assert not vm(client, attached.backing, 'snapshot')
    manager.delete_snapshot(cinder.context, snapshot)
    detach(api, nova_vc2, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


def test_after_storage_vmotion_a_snapshot_and_an_upload_copy_the_instance_disk(
        cinder, api, nova, service_context, before, client, tmp_path):
    """The instance's storage vMotion moved the volume's disk away from the backing's file:
    a template snapshot and a forced upload find the disk in the instance by its uuid."""
    manager, glance = cinder.managers['vc1'], cinder.images
    volume = cinder.create_volume('vc1')
    instance = instances(client)[0]
    attached = attach(api, nova, service_context, volume, instance)
    moved = storage_vmotion(client, vcenter.of(manager.driver).inventory(), instance, volume)
    disk_file(client, moved).write_bytes(before)     # the backing's file is the old one now

    snapshot = cinder.create_snapshot('vc1', volume)
    volume.update({'status': 'uploading', 'previous_status': 'in-use'})
    volume.save()
    upload = glance.create_empty()
    manager.copy_volume_to_image(cinder.context, volume.id, dict(upload))

    [disk] = disks(client, snapshot.provider_location.split(':', 1)[1])
    assert disk_file(client, disk).read_bytes() == before
    back = tmp_path / 'back.raw'
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(glance.path(upload['id'])), str(back)], check=True)
    assert back.read_bytes()[:len(RAW)] == RAW
    assert volume_disk(client, instance.ref, volume.id).backing.fileName == \
        moved.backing.fileName
    manager.delete_snapshot(cinder.context, snapshot)
    volume.refresh()
    detach(api, nova, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


def test_clone_of_an_attached_volume_after_storage_vmotion_copies_the_instance_disk(
        cinder, api, nova, service_context, before, client, vcenters):
    manager = cinder.managers['vc1']
    volume = cinder.create_volume('vc1')
    instance = instances(client)[0]
    attached = attach(api, nova, service_context, volume, instance)
    moved = storage_vmotion(client, vcenter.of(manager.driver).inventory(), instance, volume)
    disk_file(client, moved).write_bytes(before)     # the backing's file is the old one now
    vcenters['vc1'].reset_stats()

    clone = new_volume(cinder, source_volid=volume.id)

    calls = vcenters['vc1'].stats().calls
    assert clone.status == 'available'
    assert calls['CloneVM_Task'] == 1 and calls['RetrievePropertiesEx'] == 1, calls
    assert backing_data(cinder, client, clone) == before
    backing = vcenter.of(manager.driver).find(clone.id)
    [disk] = disks(client, backing)
    assert disk.backing.uuid == clone.id
    assert marks(client, backing)['cinder.volume.id'] == clone.id
    assert nova_options(marks(client, backing)) == []
    assert volume_disk(client, instance.ref, volume.id).backing.fileName == \
        moved.backing.fileName

    manager.delete_volume(cinder.context, clone)
    detach(api, nova, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


def test_upload_of_an_attached_volume_exports_a_temporary_copy_then_removes_it(
        cinder, api, nova, service_context, before, client, vcenters, tmp_path):
    """Cinder's ``upload-to-image --force`` of an in-use volume: the manager's
    copy_volume_to_image with the volume 'uploading' from 'in-use', as the API leaves it."""
    manager, glance = cinder.managers['vc1'], cinder.images
    volume, attached = attached_with_data(cinder, api, nova, service_context, client, before)
    volume.update({'status': 'uploading', 'previous_status': 'in-use'})
    volume.save()
    upload = glance.create_empty()
    vcenters['vc1'].reset_stats()

    manager.copy_volume_to_image(cinder.context, volume.id, dict(upload))

    calls = vcenters['vc1'].stats().calls
    back = tmp_path / 'back.raw'
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(glance.path(upload['id'])), str(back)], check=True)
    assert back.read_bytes()[:len(RAW)] == RAW
    assert (calls['CloneVM_Task'], calls['ExportVm'], calls['Destroy_Task']) == (1, 1, 1), calls
    assert not [name for name in vm_names(client) if name.startswith(volume.name + '-upload')]
    volume.refresh()
    assert volume.status == 'in-use'
    detach(api, nova, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


def test_backup_of_an_attached_volume_reads_a_copy_taken_through_the_instance(
        cinder, api, nova, service_context, before, client, tmp_path):
    """cinder-backup of an in-use volume (``--force``): Cinder's get_backup_device has the
    driver clone it (a temporary volume, its copy taken through the instance), which
    os-brick's VmdkConnector reads as cinder-backup does; the backup manager then deletes
    the temporary volume."""
    manager = cinder.managers['vc1']
    volume, attached = attached_with_data(cinder, api, nova, service_context, client, before)
    volume.update({'status': 'backing-up', 'previous_status': 'in-use'})
    volume.save()
    backup = objects.Backup(context=cinder.context, volume_id=volume.id, status='creating',
                            user_id=volume.user_id, project_id=volume.project_id)
    backup.create()

    device = manager.get_backup_device(cinder.context, backup, want_objects=True)

    temporary = device.device_obj
    assert not device.is_snapshot and temporary.id != volume.id
    disk_file(client, volume_disk(client, attached.instance.ref, volume.id)).write_bytes(AFTER)
    assert backing_data(cinder, client, temporary) == before
    back = tmp_path / 'backup.raw'
    for name, value in (('vmware_connector_credentials', True), ('vmware_tmp_dir', tmp_path)):
        cfg.CONF.set_override(name, str(value), group='vc1')
    try:
        info = manager.initialize_connection(cinder.context, temporary, BRICK_CONNECTOR)
    finally:
        for name in ('vmware_connector_credentials', 'vmware_tmp_dir'):
            cfg.CONF.clear_override(name, group='vc1')
    connector = brick_vmware.VmdkConnector(None)
    read = connector.connect_volume(info['data'])
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw', read['path'], str(back)],
                   check=True)
    connector.disconnect_volume(info['data'], read)
    assert back.read_bytes()[:len(RAW)] == RAW       # the volume's bytes at the backup
    manager.delete_volume(cinder.context, temporary)
    assert vcenter.of(manager.driver).find(temporary.id) is None
    assert volume_disk(client, attached.instance.ref, volume.id) is not None
    volume.update({'status': 'in-use', 'previous_status': 'backing-up'})
    volume.save()
    detach(api, nova, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


def test_once_the_instance_is_powered_off_copies_still_hold_the_volume_data(
        cinder, api, nova, service_context, before, client, vcenters):
    """The lock is gone with the instance's power: the snapshot and the clone of the volume
    (still attached) work and hold its data; the instance then starts again."""
    manager = cinder.managers['vc1']
    volume, attached = attached_with_data(cinder, api, nova, service_context, client, before)
    instance = client.ref('VirtualMachine', attached.instance.ref)
    client.run('PowerOffVM_Task', instance)
    try:
        snapshot = cinder.create_snapshot('vc1', volume)
        clone = new_volume(cinder, source_volid=volume.id)
    finally:
        client.run('PowerOnVM_Task', instance)
    assert (snapshot.status, clone.status) == ('available', 'available')
    assert backing_data(cinder, client, clone) == before
    from_snapshot = new_volume(cinder, snapshot_id=snapshot.id)
    assert backing_data(cinder, client, from_snapshot) == before
    for made in (clone, from_snapshot):
        manager.delete_volume(cinder.context, made)
    manager.delete_snapshot(cinder.context, snapshot)
    detach(api, nova, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)
