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

"""The simulator kit, driven through real oslo.vmware over verified TLS.

Each test exercises one vSphere call the driver relies on, and one of the gaps our simulator
fills in govmomi's vcsim (see simkit/vmdk_volume_simkit/vcsim/).
"""

import json
import os
import subprocess
import time
import uuid

import pytest
import requests
from oslo_vmware import exceptions as vexc
from oslo_vmware import rw_handles, vim_util
from vmdk_volume_simkit import Simulator, SimulatorError

from tests.vcenter import endpoint_for
from vmdk_volume.core.images import convert
from vmdk_volume.units import GiB
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, properties, specs
from vmdk_volume.vsphere import session as vsession
from vmdk_volume.vsphere.disks import DiskType

MiB = 1024 * 1024


def test_wsdl_is_served_where_oslo_vmware_looks(simulator):
    reply = requests.get(simulator.url + '/vimService.wsdl', verify=simulator.ca_file,
                         timeout=10)
    assert reply.status_code == 200
    assert b'urn:vim25' in reply.content


def test_login_verifies_tls_and_is_counted(simulator):
    simulator.reset_stats()
    session = vsession.connect(endpoint_for(simulator))
    try:
        assert session.vim.service_content.about.apiType == 'VirtualCenter'
        assert simulator.stats().calls == {'RetrieveServiceContent': 1, 'Login': 1}
    finally:
        session.logout()


def test_text_xml_cannot_carry_is_refused_as_vcenter_refuses_it(vim_session):
    root = vim_session.vim.service_content.rootFolder
    with pytest.raises(vexc.VimFaultException, match='illegal character code U\\+0007') \
            as raised:
        vim_session.invoke_api(vim_session.vim, 'CreateFolder', root, name='bell\x07')
    assert raised.value.fault_list == ['InvalidRequest']


def test_wrong_ca_file_fails_fast_and_names_the_option(simulator, tmp_path):
    with Simulator() as other:     # a CA that did not sign this simulator's certificate
        start = time.monotonic()
        with pytest.raises(errors.CertificateNotTrusted, match='vmware_ca_file') as raised:
            vsession.connect(endpoint_for(simulator, ca_file=other.ca_file))
        assert time.monotonic() - start < 10
    assert 'vmware_host_ip' not in str(raised.value)


def test_host_name_the_certificate_lacks_fails_fast_and_names_vmware_host_ip(simulator):
    """127.1 reaches the simulator (127.0.0.1) under a name its certificate does not carry."""
    start = time.monotonic()
    with pytest.raises(errors.CertificateNotTrusted) as raised:
        vsession.connect(endpoint_for(simulator, host='127.1'))
    assert time.monotonic() - start < 5
    message = str(raised.value)
    assert "issued for localhost, 127.0.0.1, ::1, not for '127.1'" in message
    assert 'set vmware_host_ip to one of those names' in message
    assert 'vmware_ca_file' not in message


def test_wrong_password_is_refused_with_the_options_named():
    with Simulator(username='admin', password='right') as vc:
        with pytest.raises(errors.AuthenticationFailed, match='vmware_host_password'):
            vsession.connect(endpoint_for(vc, password='wrong'))


def test_unreachable_vcenter_fails_after_bounded_retries(simulator):
    endpoint = endpoint_for(simulator, port=1, api_retry_count=0)
    with pytest.raises(errors.ConnectionFailed, match='vmware_host_ip'):
        vsession.connect(endpoint)


def _create_backing(vsphere, sim_inventory, name, size=2 * MiB, disk_type=DiskType.THIN):
    volume_id = str(uuid.uuid4())
    datastore = next(iter(sim_inventory.datastores.values()))
    datacenter = sim_inventory.datacenters[datastore.datacenter]
    pool = next(c.resource_pool for c in sim_inventory.compute_resources.values())
    config = specs.backing_config(
        vsphere, name=name, datastore_name=datastore.name, instance_uuid=volume_id,
        disk=specs.DiskSpec(size, disk_type, uuid=volume_id),
        extra_config={'cinder.volume.id': volume_id})
    vm = vsphere.run('CreateVM_Task', vsphere.ref('Folder', datacenter.vm_folder),
                     config=config, pool=vsphere.ref('ResourcePool', pool))
    return vm, volume_id


def _disk(vsphere, vm):
    devices = properties.fetch_one(vsphere, vm, ['config.hardware.device'])
    return next(d for d in devices['config.hardware.device'].VirtualDevice
                if type(d).__name__ == 'VirtualDisk')


def test_backing_lifecycle_create_reconfigure_clone_extend_find_destroy(
        vsphere, sim_inventory, simulator):
    vm, volume_id = _create_backing(vsphere, sim_inventory, 'volume-lifecycle')
    props = properties.fetch_one(vsphere, vm, ['config.instanceUuid', 'config.managedBy',
                                               'config.extraConfig'])
    assert props['config.instanceUuid'] == volume_id
    assert props['config.managedBy'].extensionKey == 'org.openstack.storage'
    disk = _disk(vsphere, vm)
    assert disk.backing.uuid == volume_id
    assert disk.backing.thinProvisioned is True
    assert disk.capacityInKB == 2048

    vsphere.run('ReconfigVM_Task', vm,
                spec=vsphere.create('VirtualMachineConfigSpec', annotation='reconfigured'))
    assert properties.fetch_one(vsphere, vm, ['config.annotation']) == {
        'config.annotation': 'reconfigured'}

    clone_spec = vsphere.create('VirtualMachineCloneSpec', powerOn=False, template=False,
                                location=vsphere.create('VirtualMachineRelocateSpec'))
    folder = properties.fetch_one(vsphere, vm, ['parent'])['parent']
    clone = vsphere.run('CloneVM_Task', vm, folder=folder, name='volume-clone',
                        spec=clone_spec)
    assert properties.fetch_one(vsphere, clone, ['name']) == {'name': 'volume-clone'}

    datacenter = vsphere.ref('Datacenter', next(iter(sim_inventory.datacenters)))
    vsphere.run('ExtendVirtualDisk_Task', vsphere.content.virtualDiskManager,
                name=disk.backing.fileName, datacenter=datacenter,
                newCapacityKb=4096, eagerZero=False)
    assert _disk(vsphere, vm).capacityInKB == 4096

    found = vsphere.call('FindAllByUuid', vsphere.content.searchIndex, uuid=volume_id,
                         vmSearch=True, instanceUuid=True)
    assert [ref.value for ref in found] == [vm.value]

    for each in (vm, clone):
        vsphere.run('Destroy_Task', each)
    assert vsphere.call('FindAllByUuid', vsphere.content.searchIndex, uuid=volume_id,
                        vmSearch=True, instanceUuid=True) == []


def test_vms_are_dated_when_created_or_cloned(vsphere, sim_inventory):
    """vCenter sets config.createDate of each VM it makes; a clone gets its own."""
    def now():
        return vsphere.call('CurrentTime', vsphere.ref('ServiceInstance', 'ServiceInstance'))

    before = now()
    vm, _ = _create_backing(vsphere, sim_inventory, 'volume-dated')
    between = now()
    folder = properties.fetch_one(vsphere, vm, ['parent'])['parent']
    clone = vsphere.run('CloneVM_Task', vm, folder=folder, name='volume-dated-clone',
                        spec=vsphere.create('VirtualMachineCloneSpec', powerOn=False,
                                            template=False,
                                            location=vsphere.create('VirtualMachineRelocateSpec')))
    after = now()
    dated = {item.value: item.get('config.createDate')
             for item in properties.fetch(vsphere, [vm, clone], ['config.createDate'])}
    for each in (vm, clone):
        vsphere.run('Destroy_Task', each)
    assert before <= dated[vm.value] <= between <= dated[clone.value] <= after


def test_task_error_becomes_our_fault(vsphere):
    with pytest.raises(errors.NotFound, match='FileNotFound'):
        vsphere.run('ExtendVirtualDisk_Task', vsphere.content.virtualDiskManager,
                    name='[LocalDS_0] missing/missing.vmdk', newCapacityKb=4096,
                    eagerZero=False)


def test_tasks_are_awaited_without_polling(vsphere, sim_inventory, simulator, soap_calls):
    vm, _ = _create_backing(vsphere, sim_inventory, 'volume-slow-task')
    simulator.configure(task_ms=300)
    try:
        simulator.reset_stats()
        vsphere.run('ReconfigVM_Task', vm,
                    spec=vsphere.create('VirtualMachineConfigSpec', annotation='slow'))
        calls = soap_calls().calls
    finally:
        simulator.configure(task_ms=0)
        vsphere.run('Destroy_Task', vm)
    assert calls.get('RetrievePropertiesEx', 0) == 0
    assert calls['WaitForUpdatesEx'] <= 2


def _import(vsphere, sim_inventory, simulator, stream: bytes, capacity: int):
    """The VM an NFC import of the VMDK ``stream`` into a disk of ``capacity`` bytes made."""
    datastore = next(iter(sim_inventory.datastores.values()))
    datacenter = sim_inventory.datacenters[datastore.datacenter]
    pool = next(c.resource_pool for c in sim_inventory.compute_resources.values())
    config = specs.backing_config(vsphere, name='volume-nfc-%s' % uuid.uuid4(),
                                  datastore_name=datastore.name,
                                  disk=specs.DiskSpec(capacity))
    import_spec = vsphere.create('VirtualMachineImportSpec', configSpec=config)
    writer = rw_handles.VmdkWriteHandle(
        vsphere.session, simulator.host, simulator.port,
        vsphere.ref('ResourcePool', pool), vsphere.ref('Folder', datacenter.vm_folder),
        import_spec, len(stream))
    writer.write(stream)
    writer.close()
    return writer.get_imported_vm()


def _export(vsphere, simulator, vm, tmp_path) -> tuple[int, bytes]:
    """The virtual size and the raw data of the streamOptimized VMDK an export of ``vm``
    serves."""
    reader = rw_handles.VmdkReadHandle(vsphere.session, simulator.host, simulator.port, vm,
                                       None, MiB)     # the size: for progress only
    exported = tmp_path / 'exported.vmdk'
    exported.write_bytes(b''.join(iter(lambda: reader.read(64 * 1024), b'')))
    reader.close()
    assert exported.read_bytes()[:4] == b'KDMV'
    info = json.loads(subprocess.run(['qemu-img', 'info', '--output=json', str(exported)],
                                     capture_output=True, check=True).stdout)
    assert info['format-specific']['data']['create-type'] == 'streamOptimized'
    raw = tmp_path / 'exported.raw'
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw', str(exported),
                    str(raw)], check=True)
    return info['virtual-size'], raw.read_bytes()


def test_nfc_import_lands_in_the_disk_and_exports_at_the_disks_capacity(
        vsphere, sim_inventory, simulator, tmp_path):
    """An export is a stream vCenter makes of the disk (8 MiB), not the file uploaded (a
    stream of 3 MiB): the same data, the disk's size."""
    data = os.urandom(3 * MiB)
    (tmp_path / 'disk.raw').write_bytes(data)
    convert.to_stream_optimized(str(tmp_path / 'disk.raw'), 'raw', str(tmp_path / 'disk.vmdk'))
    payload = (tmp_path / 'disk.vmdk').read_bytes()
    simulator.reset_stats()
    vm = _import(vsphere, sim_inventory, simulator, payload, 8 * MiB)
    assert simulator.stats().nfc_bytes_uploaded == len(payload)
    simulator.reset_stats()
    size, exported = _export(vsphere, simulator, vm, tmp_path)
    downloaded = simulator.stats().nfc_bytes_downloaded
    vsphere.run('Destroy_Task', vm)
    assert (size, exported) == (8 * MiB, data + bytes(5 * MiB))
    assert downloaded == (tmp_path / 'exported.vmdk').stat().st_size


def test_nfc_export_of_an_imported_disk_extended_since_is_of_its_new_capacity(
        vsphere, sim_inventory, simulator, tmp_path):
    data = os.urandom(MiB)
    (tmp_path / 'disk.raw').write_bytes(data)
    convert.to_stream_optimized(str(tmp_path / 'disk.raw'), 'raw', str(tmp_path / 'disk.vmdk'))
    vm = _import(vsphere, sim_inventory, simulator, (tmp_path / 'disk.vmdk').read_bytes(),
                 MiB)
    datacenter = vsphere.ref('Datacenter', next(iter(sim_inventory.datacenters)))
    vsphere.run('ExtendVirtualDisk_Task', vsphere.content.virtualDiskManager,
                name=_disk(vsphere, vm).backing.fileName, datacenter=datacenter,
                newCapacityKb=4096, eagerZero=False)
    size, exported = _export(vsphere, simulator, vm, tmp_path)
    vsphere.run('Destroy_Task', vm)
    assert (size, exported) == (4 * MiB, data + bytes(3 * MiB))


def _options(vsphere, vm) -> dict[str, str]:
    props = properties.fetch_one(vsphere, vm, ['config.extraConfig'])
    return properties.options(props.get('config.extraConfig'))


def test_clone_copies_the_extra_config_with_the_spec_applied_on_top(vsphere, sim_inventory):
    vm, volume_id = _create_backing(vsphere, sim_inventory, 'volume-marked')
    marks = vsphere.create('VirtualMachineConfigSpec', extraConfig=[
        vsphere.create('OptionValue', key=key, value='source')
        for key in ('kept', 'replaced', 'removed')])
    vsphere.run('ReconfigVM_Task', vm, spec=marks)
    source = _options(vsphere, vm)
    config = vsphere.create('VirtualMachineConfigSpec', extraConfig=[
        vsphere.create('OptionValue', key=key, value=value)
        for key, value in (('replaced', 'spec'), ('removed', ''), ('added', 'spec'))])
    clone_spec = vsphere.create('VirtualMachineCloneSpec', powerOn=False, template=False,
                                location=vsphere.create('VirtualMachineRelocateSpec'),
                                config=config)
    folder = properties.fetch_one(vsphere, vm, ['parent'])['parent']
    clone = vsphere.run('CloneVM_Task', vm, folder=folder, name='volume-marked-clone',
                        spec=clone_spec)
    try:
        cloned = _options(vsphere, clone)
        assert _options(vsphere, vm) == source
    finally:
        for each in (vm, clone):
            vsphere.run('Destroy_Task', each)
    expected = {k: v for k, v in source.items() if k != 'removed'}
    expected.update(replaced='spec', added='spec')
    assert cloned == expected
    assert cloned['cinder.volume.id'] == volume_id and cloned['kept'] == 'source'


def test_lease_device_urls_name_the_connected_host_as_star(vsphere, sim_inventory, simulator):
    """As vCenter and ESX do, a lease's device URLs say ``https://*/nfc/...`` for the address
    the client connected to (the simulator's port is not 443)."""
    vm, _ = _create_backing(vsphere, sim_inventory, 'volume-star-urls')
    try:
        lease = vsphere.call('ExportVm', vm)
        info = properties.fetch_one(vsphere, lease, ['info'])['info']
        vsphere.call('HttpNfcLeaseAbort', lease)
    finally:
        vsphere.run('Destroy_Task', vm)
    urls = [device.url for device in info.deviceUrl]
    assert urls and all(url.startswith('https://*/nfc/') for url in urls)
    assert simulator.port != 443


def test_recursive_traversal_follows_specs_of_the_objects_type_only(vim_session, vsphere,
                                                                     sim_inventory):
    """oslo.vmware's get_objects (the in-tree driver's backing scan) traverses from the root
    folder with specs for each type; vCenter applies a spec only to objects of its type."""
    vm, _ = _create_backing(vsphere, sim_inventory, 'volume-traversal')
    try:
        result = vim_session.invoke_api(vim_util, 'get_objects', vim_session.vim,
                                        'VirtualMachine', 100, ['name'])
    finally:
        vsphere.run('Destroy_Task', vm)
    names = [prop.val for obj in result.objects for prop in obj.propSet]
    assert 'volume-traversal' in names
    assert len(names) == len(set(names))


def test_keyed_extra_config_path_reads_that_option_or_nothing(vsphere, sim_inventory):
    vm, volume_id = _create_backing(vsphere, sim_inventory, 'volume-keyed-path')
    other = vsphere.call('FindByInventoryPath', vsphere.content.searchIndex,
                         inventoryPath='DC0/vm/DC0_C0_H0_VM0')     # a model VM, unmarked
    path = 'config.extraConfig["cinder.volume.id"]'
    try:
        found = {item.value: item.props for item in properties.fetch(
            vsphere, [vm, other], [path, 'name'])}
    finally:
        vsphere.run('Destroy_Task', vm)
    assert found[vm.value][path].value == volume_id
    assert found[other.value] == {'name': 'DC0_C0_H0_VM0'}


def test_a_view_of_a_vm_destroyed_since_reads_without_it(vsphere, sim_inventory):
    vm, _ = _create_backing(vsphere, sim_inventory, 'volume-view-gone')
    view = properties.container_view(vsphere, vsphere.content.rootFolder, ['VirtualMachine'])
    vsphere.run('Destroy_Task', vm)
    names = [item.get('name') for item in properties.collect(vsphere, view, {
        'VirtualMachine': ['name']})]
    assert names and 'volume-view-gone' not in names


def _disk_file(vsphere, vm):
    """The simulator's local file of ``vm``'s disk (tests write and read its bytes)."""
    backing = _disk(vsphere, vm).backing
    url = properties.fetch_one(vsphere, backing.datastore, ['info.url'])['info.url']
    return url + '/' + backing.fileName.split('] ', 1)[1]


def _snapshotted(vsphere, sim_inventory, name):
    """A backing whose disk held b'before' at its snapshot and b'after' since."""
    vm, _ = _create_backing(vsphere, sim_inventory, name)
    disk = _disk_file(vsphere, vm)
    with open(disk, 'wb') as f:
        f.write(b'before')
    snapshot = vsphere.run('CreateSnapshot_Task', vm, name='s1', memory=False, quiesce=False)
    with open(disk, 'wb') as f:
        f.write(b'after')
    return vm, snapshot, disk


def _read(file) -> bytes:
    with open(file, 'rb') as f:
        return f.read()


def _layout_files(vsphere, vm) -> set[str]:
    layout = properties.fetch_one(vsphere, vm, ['layoutEx.file'])['layoutEx.file']
    return {f.name for f in layout.VirtualMachineFileLayoutExFileInfo}


def test_snapshot_keeps_the_disks_content_in_a_file_the_layout_lists(vsphere, sim_inventory):
    """vCenter freezes a disk's content at a snapshot, in files of the VM's layout; Destroy
    deletes them."""
    vm, _, disk = _snapshotted(vsphere, sim_inventory, 'volume-snap-layout')
    name = _disk(vsphere, vm).backing.fileName.replace('.vmdk', '-000001.vmdk')
    assert name in _layout_files(vsphere, vm)
    assert _read(disk.replace('.vmdk', '-000001.vmdk')) == b'before'
    vsphere.run('Destroy_Task', vm)
    assert not os.path.exists(disk.replace('.vmdk', '-000001.vmdk'))


def test_revert_to_a_snapshot_restores_the_disks_content_at_the_snapshot(
        vsphere, sim_inventory):
    vm, snapshot, disk = _snapshotted(vsphere, sim_inventory, 'volume-snap-revert')
    vsphere.run('RevertToSnapshot_Task', snapshot)
    assert _read(disk) == b'before'
    with open(disk, 'wb') as f:
        f.write(b'again')
    vsphere.run('RevertToSnapshot_Task', snapshot)
    assert _read(disk) == b'before'
    vsphere.run('Destroy_Task', vm)


def test_clone_at_a_snapshot_copies_the_disks_content_at_the_snapshot(vsphere, sim_inventory):
    vm, snapshot, _ = _snapshotted(vsphere, sim_inventory, 'volume-snap-clone')
    folder = properties.fetch_one(vsphere, vm, ['parent'])['parent']
    clones = {}
    for linked in (False, True):
        relocate = vsphere.create('VirtualMachineRelocateSpec')
        spec = specs.clone_spec(vsphere, relocate, volume_id=str(uuid.uuid4()), marks={},
                                snapshot=snapshot.value, linked=linked)
        clones[linked] = vsphere.run('CloneVM_Task', vm, folder=folder,
                                     name='volume-snap-clone-%s' % linked, spec=spec)
    current = vsphere.run('CloneVM_Task', vm, folder=folder, name='volume-snap-clone-now',
                          spec=specs.clone_spec(vsphere, vsphere.create(
                              'VirtualMachineRelocateSpec'), volume_id=str(uuid.uuid4()),
                              marks={}))
    assert [_read(_disk_file(vsphere, c)) for c in (*clones.values(), current)] == [
        b'before', b'before', b'after']
    for each in (vm, *clones.values(), current):
        vsphere.run('Destroy_Task', each)


def test_removing_a_snapshot_keeps_the_current_content_and_deletes_its_copy(
        vsphere, sim_inventory):
    vm, snapshot, disk = _snapshotted(vsphere, sim_inventory, 'volume-snap-remove')
    second = vsphere.run('CreateSnapshot_Task', vm, name='s2', memory=False, quiesce=False)
    vsphere.run('RemoveSnapshot_Task', snapshot, removeChildren=False)
    assert _read(disk) == b'after'
    assert not os.path.exists(disk.replace('.vmdk', '-000001.vmdk'))
    files = _layout_files(vsphere, vm)
    name = _disk(vsphere, vm).backing.fileName
    assert (name.replace('.vmdk', '-000001.vmdk') in files,
            name.replace('.vmdk', '-000002.vmdk') in files) == (False, True)
    vsphere.run('RemoveSnapshot_Task', second, removeChildren=False)
    assert not os.path.exists(disk.replace('.vmdk', '-000002.vmdk'))
    vsphere.run('Destroy_Task', vm)


def test_relocating_a_snapshotted_disk_moves_its_snapshots_copy(vsphere, sim_inventory):
    """vCenter moves a disk's whole chain; a revert after the move finds the content."""
    vm, snapshot, _ = _snapshotted(vsphere, sim_inventory, 'volume-snap-relocate')
    source = _disk(vsphere, vm).backing.datastore.value
    target = next(ref for ref, ds in sim_inventory.datastores.items() if ref != source
                  and ds.datacenter == sim_inventory.datastores[source].datacenter)
    vsphere.run('RelocateVM_Task', vm, spec=vsphere.create(
        'VirtualMachineRelocateSpec', datastore=vsphere.ref('Datastore', target)))
    disk = _disk_file(vsphere, vm)
    assert _read(disk.replace('.vmdk', '-000001.vmdk')) == b'before'
    assert _disk(vsphere, vm).backing.fileName.replace(
        '.vmdk', '-000001.vmdk') in _layout_files(vsphere, vm)
    vsphere.run('RevertToSnapshot_Task', snapshot)
    assert _read(disk) == b'before'
    vsphere.run('Destroy_Task', vm)


def _add_existing_disk(vsphere, vm, path: str, controller_key: int):
    """A disk opened from the existing file ``path``, as Nova attaches a volume (no
    fileOperation, no uuid, no size)."""
    disk = vsphere.create('VirtualDisk', key=-101, controllerKey=controller_key, unitNumber=5,
                          backing=vsphere.create('VirtualDiskFlatVer2BackingInfo',
                                                 fileName=path, diskMode='persistent'))
    change = vsphere.create('VirtualDeviceConfigSpec', operation='add', device=disk)
    vsphere.run('ReconfigVM_Task', vm,
                spec=vsphere.create('VirtualMachineConfigSpec', deviceChange=[change]))


def test_a_disk_opened_from_its_file_has_the_uuid_and_size_the_file_has(vsphere, sim_inventory):
    owner, volume_id = _create_backing(vsphere, sim_inventory, 'volume-opened', size=3 * MiB)
    other, _ = _create_backing(vsphere, sim_inventory, 'volume-opener')
    try:
        made = _disk(vsphere, owner)
        _add_existing_disk(vsphere, other, made.backing.fileName,
                           _disk(vsphere, other).controllerKey)
        devices = properties.fetch_one(vsphere, other, ['config.hardware.device'])
        opened = next(d for d in devices['config.hardware.device'].VirtualDevice
                      if type(d).__name__ == 'VirtualDisk'
                      and d.backing.fileName == made.backing.fileName)
    finally:
        for vm in (owner, other):
            vsphere.run('Destroy_Task', vm)
    assert opened.backing.uuid == made.backing.uuid == volume_id
    assert (opened.capacityInKB, opened.capacityInBytes) == (3 * 1024, 3 * MiB)


def test_new_disks_and_inventory_vms_disks_have_uuids(vsphere, sim_inventory):
    disk = specs.DiskSpec(MiB, DiskType.THIN)         # no uuid asked for
    datastore = next(iter(sim_inventory.datastores.values()))
    datacenter = sim_inventory.datacenters[datastore.datacenter]
    pool = next(c.resource_pool for c in sim_inventory.compute_resources.values())
    config = specs.backing_config(vsphere, name='volume-no-uuid', datastore_name=datastore.name,
                                  instance_uuid=str(uuid.uuid4()), disk=disk)
    vm = vsphere.run('CreateVM_Task', vsphere.ref('Folder', datacenter.vm_folder),
                     config=config, pool=vsphere.ref('ResourcePool', pool))
    try:
        created = _disk(vsphere, vm).backing.uuid
    finally:
        vsphere.run('Destroy_Task', vm)
    inventory_vm = next(item.ref for item in properties.collect(
        vsphere, properties.container_view(vsphere, vsphere.content.rootFolder,
                                           ['VirtualMachine']), {'VirtualMachine': ['name']})
        if '_VM' in item.get('name'))
    assert uuid.UUID(created) and uuid.UUID(_disk(vsphere, inventory_vm).backing.uuid)


def test_a_datastore_unmounted_from_a_host_can_be_mounted_again(vsphere, sim_inventory,
                                                                simulator):
    datastore = next(iter(sim_inventory.datastores.values()))
    host = sim_inventory.hosts[datastore.mounts[0].host]
    simulator.change_datastore(datastore.name, unmount_from=(host.name,))
    simulator.change_datastore(datastore.name, mount_on=(host.name,))
    mounts = properties.fetch_one(vsphere, vsphere.ref('Datastore', datastore.ref),
                                  ['host'])['host'].DatastoreHostMount
    info = next(m.mountInfo for m in mounts if m.key.value == host.ref)
    assert (info.mounted, info.accessible) == (True, True)


def test_a_datastores_space_is_reported_in_its_summary_and_free_space_in_its_info(
        vsphere, sim_inventory, simulator):
    datastore = next(iter(sim_inventory.datastores.values()))
    ref = vsphere.ref('Datastore', datastore.ref)
    before = properties.fetch_one(vsphere, ref, ['summary'])['summary']
    simulator.change_datastore(datastore.name, capacity=200 * GiB, free_space=60 * GiB,
                               uncommitted=30 * GiB)
    try:
        read = properties.fetch_one(vsphere, ref, ['summary', 'info.freeSpace'])
    finally:
        simulator.change_datastore(datastore.name, capacity=before.capacity,
                                   free_space=before.freeSpace,
                                   uncommitted=getattr(before, 'uncommitted', 0) or 0)
    summary = read['summary']
    assert (summary.capacity, summary.freeSpace, summary.uncommitted) == (
        200 * GiB, 60 * GiB, 30 * GiB)
    assert read['info.freeSpace'] == 60 * GiB


class _Watching:
    """A collector of this test's own on some paths of one object: the changes vCenter
    reports to it (WaitForUpdatesEx, not waiting) after the first, full update set."""

    def __init__(self, client, ref, paths):
        self.client, self.version = client, ''
        self.collector = client.call('CreatePropertyCollector', client.content.propertyCollector)
        client.call('CreateFilter', self.collector, partialUpdates=False,
                    spec=properties.filter_spec(client, [(ref, None)], {ref._type: paths}))
        self.changes()

    def changes(self) -> dict:
        updates = self.client.call('WaitForUpdatesEx', self.collector, version=self.version,
                                   options=self.client.create('WaitOptions', maxWaitSeconds=0))
        if not updates:
            return {}
        self.version = updates.version
        return {change.name: getattr(change, 'val', None)
                for update in updates.filterSet for obj in update.objectSet
                for change in obj.changeSet or []}

    def close(self):
        self.client.call('DestroyPropertyCollector', self.collector)


def test_a_datastores_mounts_state_and_space_changes_are_reported_to_collectors(
        vsphere, sim_inventory, simulator):
    datastore = next(iter(sim_inventory.datastores.values()))
    host = sim_inventory.hosts[datastore.mounts[0].host]
    watching = _Watching(vsphere, vsphere.ref('Datastore', datastore.ref), [
        'host', 'summary.maintenanceMode', 'summary.capacity', 'summary.freeSpace'])
    try:
        assert watching.changes() == {}
        simulator.change_datastore(datastore.name, unmount_from=(host.name,),
                                   maintenance=True, free_space=datastore.free_space - GiB)
        changed = watching.changes()
        simulator.change_datastore(datastore.name, mount_on=(host.name,), maintenance=False,
                                   free_space=datastore.free_space)
        restored = watching.changes()
    finally:
        watching.close()
    unmounted = next(m for m in changed['host'].DatastoreHostMount if m.key.value == host.ref)
    assert (unmounted.mountInfo.mounted, unmounted.mountInfo.accessible) == (False, False)
    assert changed['summary.maintenanceMode'] == 'inMaintenance'
    assert changed['summary.freeSpace'] == datastore.free_space - GiB
    assert 'summary.capacity' not in changed        # only what changed is reported
    assert restored['summary.maintenanceMode'] == 'normal'


def test_a_hosts_maintenance_mode_is_reported_to_collectors(vsphere, sim_inventory):
    host = vsphere.ref('HostSystem', next(iter(sim_inventory.hosts)))
    watching = _Watching(vsphere, host, ['runtime.inMaintenanceMode'])
    try:
        vsphere.run('EnterMaintenanceMode_Task', host, timeout=0)
        entered = watching.changes()
        vsphere.run('ExitMaintenanceMode_Task', host, timeout=0)
        left = watching.changes()
    finally:
        watching.close()
    assert entered == {'runtime.inMaintenanceMode': True}
    assert left == {'runtime.inMaintenanceMode': False}


def test_relocating_a_vm_whose_disk_file_is_gone_fails_on_the_source_first(vsphere,
                                                                           sim_inventory):
    """Nova's consolidation relies on it: the file moved (with the instance) to where the
    relocation would put it; vCenter reports the missing source, not the existing target."""
    owner, _ = _create_backing(vsphere, sim_inventory, 'volume-moved-away')
    other, _ = _create_backing(vsphere, sim_inventory, 'volume-left-behind')
    made = _disk(vsphere, owner)
    _add_existing_disk(vsphere, other, made.backing.fileName, _disk(vsphere, other).controllerKey)
    source = made.backing.datastore.value
    target = next(ref for ref, ds in sim_inventory.datastores.items() if ref != source
                  and ds.datacenter == sim_inventory.datastores[source].datacenter)
    relocate = vsphere.create('VirtualMachineRelocateSpec',
                              datastore=vsphere.ref('Datastore', target))
    try:
        vsphere.run('RelocateVM_Task', owner, spec=relocate)
        with pytest.raises(errors.NotFound) as raised:
            vsphere.run('RelocateVM_Task', other, spec=relocate)
    finally:
        for vm in (owner, other):
            vsphere.run('Destroy_Task', vm)
    assert raised.value.name == 'FileNotFound'


def test_a_new_scsi_controller_reserves_unit_7_for_itself(vsphere, sim_inventory):
    vm, _ = _create_backing(vsphere, sim_inventory, 'volume-controller')
    try:
        devices = properties.fetch_one(vsphere, vm, ['config.hardware.device'])
    finally:
        vsphere.run('Destroy_Task', vm)
    controller = next(d for d in devices['config.hardware.device'].VirtualDevice
                      if type(d).__name__ == 'VirtualLsiLogicController')
    assert controller.scsiCtlrUnitNumber == 7


def test_a_dead_simulator_is_reported_with_its_log_and_leaves_no_files():
    simulator = Simulator().start()
    workdir = simulator.log_path.parent
    datastores = [path for path in workdir.iterdir() if path.name.startswith('govcsim-')]
    simulator.kill()
    with pytest.raises(SimulatorError, match=r'not running \(exit status -9\); its log says'):
        simulator.stats()
    simulator.stop()
    assert datastores and not workdir.exists()


def _watch(client):
    """A collector of ``client``'s session with one filter on the root folder's name."""
    collector = client.call('CreatePropertyCollector', client.content.propertyCollector)
    spec = client.create(
        'PropertyFilterSpec',
        objectSet=[client.create('ObjectSpec', obj=client.content.rootFolder, skip=False)],
        propSet=[client.create('PropertySpec', type='Folder', all=False, pathSet=['name'])])
    return collector, client.call('CreateFilter', collector, spec=spec, partialUpdates=False)


def test_collectors_and_filters_are_held_until_destroyed(simulator, vsphere):
    """vCenter holds a session's collectors and filters until they are destroyed; destroying
    a collector destroys its filters."""
    before = simulator.collectors()
    first, filter_ = _watch(vsphere)
    second, _ = _watch(vsphere)
    assert simulator.collectors() == {'collectors': before['collectors'] + 2,
                                      'filters': before['filters'] + 2}
    vsphere.call('DestroyPropertyFilter', filter_)
    assert simulator.collectors() == {'collectors': before['collectors'] + 2,
                                      'filters': before['filters'] + 1}
    vsphere.call('DestroyPropertyCollector', first)
    vsphere.call('DestroyPropertyCollector', second)
    assert simulator.collectors() == before


def test_collectors_and_filters_end_with_their_session(simulator):
    before = simulator.collectors()
    client = vclient.Client.connect(endpoint_for(simulator))
    _watch(client)
    assert simulator.collectors() == {'collectors': before['collectors'] + 1,
                                      'filters': before['filters'] + 1}
    client.close()
    assert simulator.collectors() == before


def _with_added_disk(vsphere, sim_inventory, name):
    """A VM of its own disk (holding b'own') to which the existing disk of another VM (its
    volume, holding b'volume') was added as Nova attaches a volume: the VM, the added
    disk's source VM and its volume id."""
    volume, volume_id = _create_backing(vsphere, sim_inventory, name + '-volume')
    instance, _ = _create_backing(vsphere, sim_inventory, name)
    with open(_disk_file(vsphere, volume), 'wb') as f:
        f.write(b'volume')
    with open(_disk_file(vsphere, instance), 'wb') as f:
        f.write(b'own')
    own = _disk(vsphere, instance)
    added = vsphere.create('VirtualDisk', key=-101, controllerKey=own.controllerKey,
                           unitNumber=1, capacityInKB=2048, backing=vsphere.create(
                               'VirtualDiskFlatVer2BackingInfo', diskMode='persistent',
                               fileName=_disk(vsphere, volume).backing.fileName))
    vsphere.run('ReconfigVM_Task', instance, spec=vsphere.create(
        'VirtualMachineConfigSpec', deviceChange=[vsphere.create(
            'VirtualDeviceConfigSpec', operation='add', device=added)]))
    return instance, volume, volume_id


def _disks(vsphere, vm):
    devices = properties.fetch_one(vsphere, vm, ['config.hardware.device'])
    return [d for d in devices['config.hardware.device'].VirtualDevice
            if type(d).__name__ == 'VirtualDisk']


def test_an_existing_disk_added_to_a_vm_reports_that_disks_uuid(vsphere, sim_inventory):
    instance, volume, volume_id = _with_added_disk(vsphere, sim_inventory, 'instance-uuid')
    own, added = _disks(vsphere, instance)
    assert added.backing.uuid == volume_id != own.backing.uuid
    vsphere.run('Destroy_Task', volume)
    vsphere.run('Destroy_Task', instance)


def test_clone_without_a_disk_the_spec_removes_copies_the_data_of_the_disk_kept(
        vsphere, sim_inventory):
    instance, volume, volume_id = _with_added_disk(vsphere, sim_inventory, 'instance-clone')
    own, added = _disks(vsphere, instance)
    folder = properties.fetch_one(vsphere, instance, ['parent'])['parent']
    spec = vsphere.create(
        'VirtualMachineCloneSpec', powerOn=False, template=False,
        location=vsphere.create('VirtualMachineRelocateSpec'),
        config=vsphere.create('VirtualMachineConfigSpec', deviceChange=[vsphere.create(
            'VirtualDeviceConfigSpec', operation='remove', device=own)]))
    clone = vsphere.run('CloneVM_Task', instance, folder=folder, name='instance-clone-copy',
                        spec=spec)
    [kept] = _disks(vsphere, clone)
    with open(_disk_file(vsphere, clone), 'rb') as f:
        assert (kept.key, f.read()) == (added.key, b'volume')
    for vm in (clone, instance, volume):
        vsphere.run('Destroy_Task', vm)
