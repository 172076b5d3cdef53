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

"""The simulator kit's disk rules, each as vCenter applies it (vmdk_volume/simkit/vcsim/
locks.go, disk_files.go, pools.go).

An attached volume is a backing (a powered-off VM holding the volume's disk file) whose file a
powered-on instance has opened too. ESX locks the file: vCenter refuses to snapshot, clone,
move, export, destroy or power on the backing, to open the file in another running VM, and to
extend, copy or delete the file, with FileLocked ("Unable to access file <path> since it is
locked"); what goes through the instance works.
"""

import os
import re
import types
import uuid

import pytest

from vmdk_volume.vsphere import errors, properties, specs

MiB = 1024 * 1024


def _placement(sim_inventory):
    datastore = next(iter(sim_inventory.datastores.values()))
    datacenter = sim_inventory.datacenters[datastore.datacenter]
    pool = next(c.resource_pool for c in sim_inventory.compute_resources.values())
    return datastore, datacenter, pool


def _create_vm(vsphere, sim_inventory, name, size=2 * MiB, disk_uuid=None):
    datastore, datacenter, pool = _placement(sim_inventory)
    config = specs.backing_config(vsphere, name=name, datastore_name=datastore.name,
                                  disk=specs.DiskSpec(size, uuid=disk_uuid))
    return vsphere.run('CreateVM_Task', vsphere.ref('Folder', datacenter.vm_folder),
                       config=config, pool=vsphere.ref('ResourcePool', pool))


def _devices(vsphere, vm) -> list:
    devices = properties.fetch_one(vsphere, vm, ['config.hardware.device'])
    return list(devices['config.hardware.device'].VirtualDevice)


def _disks(vsphere, vm) -> list:
    return [d for d in _devices(vsphere, vm) if type(d).__name__ == 'VirtualDisk']


def _add_existing_disk(vsphere, vm, file_name, *, disk_uuid='', capacity_kb=0):
    """Open the disk file ``file_name`` in ``vm`` too (as Nova attaches a volume), on unit 1
    of its controller, the spec claiming ``disk_uuid`` and ``capacity_kb``."""
    controller = next(d for d in _devices(vsphere, vm) if hasattr(d, 'scsiCtlrUnitNumber'))
    backing = vsphere.create('VirtualDiskFlatVer2BackingInfo', fileName=file_name,
                             diskMode='persistent')
    if disk_uuid:
        backing.uuid = disk_uuid
    disk = vsphere.create('VirtualDisk', key=-1, unitNumber=1, controllerKey=controller.key,
                          backing=backing, capacityInKB=capacity_kb)
    vsphere.run('ReconfigVM_Task', vm, spec=vsphere.create(
        'VirtualMachineConfigSpec', deviceChange=[
            vsphere.create('VirtualDeviceConfigSpec', operation='add', device=disk)]))
    return next(d for d in _disks(vsphere, vm) if d.backing.fileName == file_name)


def _remove_disk(vsphere, vm, disk, destroy=False):
    change = vsphere.create('VirtualDeviceConfigSpec', operation='remove', device=disk)
    if destroy:
        change.fileOperation = 'destroy'
    vsphere.run('ReconfigVM_Task', vm, spec=vsphere.create(
        'VirtualMachineConfigSpec', deviceChange=[change]))


@pytest.fixture
def attached(vsphere, sim_inventory):
    """A backing with a snapshot whose disk file a powered-on instance holds."""
    name = 'lock-%s' % uuid.uuid4().hex[:8]
    backing = _create_vm(vsphere, sim_inventory, name)
    snapshot = vsphere.run('CreateSnapshot_Task', backing, name='s0', memory=False,
                           quiesce=False)
    instance = _create_vm(vsphere, sim_inventory, name + '-instance')
    file_name = _disks(vsphere, backing)[0].backing.fileName
    disk = _add_existing_disk(vsphere, instance, file_name)
    vsphere.run('PowerOnVM_Task', instance)
    _, datacenter, _ = _placement(sim_inventory)
    yield types.SimpleNamespace(backing=backing, snapshot=snapshot, instance=instance,
                                file=file_name, disk=disk, name=name,
                                datacenter=vsphere.ref('Datacenter', datacenter.ref))
    if properties.fetch_one(vsphere, instance, ['runtime.powerState'])[
            'runtime.powerState'] == 'poweredOn':
        vsphere.run('PowerOffVM_Task', instance)
    _remove_disk(vsphere, instance, next(
        d for d in _disks(vsphere, instance) if d.backing.fileName == file_name))
    for vm in (instance, backing):
        vsphere.run('Destroy_Task', vm)


def _locked(file_name):
    return pytest.raises(errors.Busy, match='^FileLocked: Unable to access file %s since it '
                                            'is locked' % re.escape(file_name))


def _vm_names(vsphere) -> set[str]:
    view = properties.container_view(vsphere, vsphere.content.rootFolder, ['VirtualMachine'])
    return {item.get('name') for item in properties.collect(vsphere, view, {
        'VirtualMachine': ['name']})}


def test_snapshots_of_another_vm_using_a_locked_disk_are_refused(vsphere, attached):
    with _locked(attached.file):
        vsphere.run('CreateSnapshot_Task', attached.backing, name='s1', memory=False,
                    quiesce=False)
    with _locked(attached.file):
        vsphere.run('RevertToSnapshot_Task', attached.snapshot)
    with _locked(attached.file):
        vsphere.run('RemoveSnapshot_Task', attached.snapshot, removeChildren=False)
    tree = properties.fetch_one(vsphere, attached.backing, ['snapshot'])['snapshot']
    assert [s.name for s in tree.rootSnapshotList] == ['s0']


def test_clone_of_another_vm_using_a_locked_disk_is_refused(vsphere, attached):
    folder = properties.fetch_one(vsphere, attached.backing, ['parent'])['parent']
    with _locked(attached.file):
        vsphere.run('CloneVM_Task', attached.backing, folder=folder,
                    name=attached.name + '-clone', spec=vsphere.create(
                        'VirtualMachineCloneSpec', powerOn=False, template=False,
                        location=vsphere.create('VirtualMachineRelocateSpec')))
    assert attached.name + '-clone' not in _vm_names(vsphere)


def test_relocating_another_vm_moving_a_locked_disk_is_refused(vsphere, sim_inventory,
                                                               attached):
    source = _disks(vsphere, attached.backing)[0].backing.datastore.value
    target = next(ref for ref in sim_inventory.datastores if ref != source)
    with _locked(attached.file):
        vsphere.run('RelocateVM_Task', attached.backing, spec=vsphere.create(
            'VirtualMachineRelocateSpec', datastore=vsphere.ref('Datastore', target)))
    assert _disks(vsphere, attached.backing)[0].backing.fileName == attached.file


def test_extend_copy_and_delete_of_a_locked_disk_file_are_refused(vsphere, attached):
    manager = vsphere.content.virtualDiskManager
    with _locked(attached.file):
        vsphere.run('ExtendVirtualDisk_Task', manager, name=attached.file,
                    datacenter=attached.datacenter, newCapacityKb=4096, eagerZero=False)
    copy = attached.file.replace('.vmdk', '-copy.vmdk')
    with _locked(attached.file):
        vsphere.run('CopyVirtualDisk_Task', manager, sourceName=attached.file,
                    sourceDatacenter=attached.datacenter, destName=copy,
                    destDatacenter=attached.datacenter)
    with _locked(attached.file):
        vsphere.run('DeleteVirtualDisk_Task', manager, name=attached.file,
                    datacenter=attached.datacenter)
    assert [d.capacityInKB for d in _disks(vsphere, attached.backing)] == [2048]
    with pytest.raises(errors.NotFound):
        vsphere.call('QueryVirtualDiskUuid', manager, name=copy,
                     datacenter=attached.datacenter)


def test_export_of_another_vm_using_a_locked_disk_is_refused(vsphere, attached):
    with _locked(attached.file):
        vsphere.call('ExportVm', attached.backing)


def test_destroy_of_another_vm_using_a_locked_disk_is_refused(vsphere, attached):
    with _locked(attached.file):
        vsphere.run('Destroy_Task', attached.backing)
    assert attached.name in _vm_names(vsphere)


def test_power_on_of_another_vm_using_a_locked_disk_is_refused(vsphere, attached):
    with _locked(attached.file):
        vsphere.run('PowerOnVM_Task', attached.backing)
    assert properties.fetch_one(vsphere, attached.backing, ['runtime.powerState']) == {
        'runtime.powerState': 'poweredOff'}


def test_hot_add_of_a_locked_disk_to_another_running_vm_is_refused(vsphere, sim_inventory,
                                                                   attached):
    other = _create_vm(vsphere, sim_inventory, attached.name + '-other')
    vsphere.run('PowerOnVM_Task', other)
    try:
        with _locked(attached.file):
            _add_existing_disk(vsphere, other, attached.file)
        files = [d.backing.fileName for d in _disks(vsphere, other)]
    finally:
        vsphere.run('PowerOffVM_Task', other)
        vsphere.run('Destroy_Task', other)
    assert attached.file not in files


def test_reconfigure_of_another_vm_deleting_or_growing_a_locked_disk_is_refused(
        vsphere, attached):
    disk = _disks(vsphere, attached.backing)[0]
    with _locked(attached.file):
        _remove_disk(vsphere, attached.backing, disk, destroy=True)
    disk.capacityInKB = 4096
    with _locked(attached.file):
        vsphere.run('ReconfigVM_Task', attached.backing, spec=vsphere.create(
            'VirtualMachineConfigSpec', deviceChange=[specs.disk_edit(vsphere, disk)]))
    assert [d.capacityInKB for d in _disks(vsphere, attached.backing)] == [2048]


def test_what_goes_through_the_vm_holding_the_disk_works(vsphere, attached):
    """Reconfigure, hot-extend, snapshot and clone of the powered-on instance work; the
    backing sees the file's new size; once the instance is off, the backing is free."""
    disk = attached.disk
    disk.capacityInKB = 4096
    vsphere.run('ReconfigVM_Task', attached.instance, spec=vsphere.create(
        'VirtualMachineConfigSpec', annotation='running',
        deviceChange=[specs.disk_edit(vsphere, disk)]))
    assert [d.capacityInKB for d in _disks(vsphere, attached.backing)] == [4096]
    snapshot = vsphere.run('CreateSnapshot_Task', attached.instance, name='i1',
                           memory=False, quiesce=False)
    folder = properties.fetch_one(vsphere, attached.instance, ['parent'])['parent']
    clone = vsphere.run('CloneVM_Task', attached.instance, folder=folder,
                        name=attached.name + '-instance-clone', spec=vsphere.create(
                            'VirtualMachineCloneSpec', powerOn=False, template=False,
                            location=vsphere.create('VirtualMachineRelocateSpec')))
    vsphere.run('RemoveSnapshot_Task', snapshot, removeChildren=False)
    vsphere.run('Destroy_Task', clone)
    vsphere.run('PowerOffVM_Task', attached.instance)
    freed = vsphere.run('CreateSnapshot_Task', attached.backing, name='s1', memory=False,
                        quiesce=False)
    vsphere.run('RemoveSnapshot_Task', freed, removeChildren=False)


def test_a_vm_opening_an_existing_disk_file_sees_its_uuid_and_size(vsphere, sim_inventory):
    """The spec's UUID and size are not the file's: the VM sees the file's; a UUID set
    through one VM is the file's, seen by the other."""
    volume_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    backing = _create_vm(vsphere, sim_inventory, 'lock-file-identity', disk_uuid=volume_id)
    instance = _create_vm(vsphere, sim_inventory, 'lock-file-identity-instance')
    file_name = _disks(vsphere, backing)[0].backing.fileName
    try:
        disk = _add_existing_disk(vsphere, instance, file_name, disk_uuid=str(uuid.uuid4()),
                                  capacity_kb=1024)
        opened = (disk.backing.uuid, disk.capacityInKB, disk.capacityInBytes)
        own = next(d for d in _disks(vsphere, instance) if d.key != disk.key)
        disk.backing.uuid = other_id
        vsphere.run('ReconfigVM_Task', instance, spec=vsphere.create(
            'VirtualMachineConfigSpec', deviceChange=[specs.disk_edit(vsphere, disk)]))
        seen = _disks(vsphere, backing)[0].backing.uuid
        _remove_disk(vsphere, instance, disk)
    finally:
        for vm in (instance, backing):
            vsphere.run('Destroy_Task', vm)
    assert opened == (volume_id, 2048, 2 * MiB)
    assert own.backing.uuid and own.backing.uuid != volume_id
    assert seen == other_id


def test_inventory_vms_disks_have_uuids(vsphere):
    vm = vsphere.call('FindByInventoryPath', vsphere.content.searchIndex,
                      inventoryPath='DC0/vm/DC0_C0_H0_VM0')
    [disk] = _disks(vsphere, vm)
    assert uuid.UUID(disk.backing.uuid)


def test_new_scsi_controllers_get_unit_number_7(vsphere, sim_inventory):
    vm = _create_vm(vsphere, sim_inventory, 'lock-controller-unit')
    try:
        units = [d.scsiCtlrUnitNumber for d in _devices(vsphere, vm)
                 if hasattr(d, 'scsiCtlrUnitNumber')]
    finally:
        vsphere.run('Destroy_Task', vm)
    assert units == [7]


def _local_file(vsphere, datastore_ref, file_name):
    url = properties.fetch_one(vsphere, datastore_ref, ['info.url'])['info.url']
    return url + '/' + file_name.split('] ', 1)[1]


def test_relocate_checks_the_source_disk_before_the_target(vsphere, sim_inventory):
    """A disk file that is gone fails the move with FileNotFound, even where the target
    datastore holds a file of that name (FileAlreadyExists comes after)."""
    vm = _create_vm(vsphere, sim_inventory, 'lock-source-gone')
    backing = _disks(vsphere, vm)[0].backing
    target = next(ref for ref in sim_inventory.datastores if ref != backing.datastore.value)
    source = _local_file(vsphere, backing.datastore, backing.fileName)
    occupied = _local_file(vsphere, vsphere.ref('Datastore', target), backing.fileName)
    os.makedirs(os.path.dirname(occupied), exist_ok=True)
    open(occupied, 'wb').close()
    os.remove(source)
    try:
        with pytest.raises(errors.NotFound, match='FileNotFound'):
            vsphere.run('RelocateVM_Task', vm, spec=vsphere.create(
                'VirtualMachineRelocateSpec', datastore=vsphere.ref('Datastore', target)))
    finally:
        os.remove(occupied)
        vsphere.run('Destroy_Task', vm)


def test_a_destroyed_template_leaves_its_resource_pool(vsphere, sim_inventory):
    _, _, pool = _placement(sim_inventory)
    vm = _create_vm(vsphere, sim_inventory, 'lock-template')
    vsphere.call('MarkAsTemplate', vm)
    vsphere.run('Destroy_Task', vm)
    listed = properties.fetch_one(vsphere, vsphere.ref('ResourcePool', pool), ['vm'])['vm']
    assert vm.value not in [ref.value for ref in listed.ManagedObjectReference]


def test_layout_drops_the_files_of_a_removed_disk(vsphere, sim_inventory):
    backing = _create_vm(vsphere, sim_inventory, 'lock-layout')
    instance = _create_vm(vsphere, sim_inventory, 'lock-layout-instance')
    file_name = _disks(vsphere, backing)[0].backing.fileName

    def layout():
        files = properties.fetch_one(vsphere, instance, ['layoutEx.file'])['layoutEx.file']
        return {f.name for f in files.VirtualMachineFileLayoutExFileInfo}

    try:
        disk = _add_existing_disk(vsphere, instance, file_name)
        listed = file_name in layout()
        _remove_disk(vsphere, instance, disk)
        assert (listed, file_name in layout()) == (True, False)
    finally:
        for vm in (instance, backing):
            vsphere.run('Destroy_Task', vm)
