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

"""Cinder's in-tree VMDK driver as the producer of an upgrade, and disk bytes in the simulator.

``produce`` runs Cinder's own VolumeManager with ``cinder.volume.drivers.vmware.vmdk`` in a
process of its own (its options and ours never meet in one cinder-volume; in one process they
would clash) on the database the tests then serve with our driver, and makes through it every
kind of object an operator's database holds: volumes with and without a backing, clones
(full and linked), volumes from snapshots and from a streamOptimized image, a volume after a
generic migration and one after a transfer, snapshots of each format, of a volume without
backing and (template) of an attached volume, and a backing as releases before instanceUuid
left it. ``attached_by_intree`` starts it again on the same rows (a rollback). Run as
``python -m tests.cinder.intree``.
"""

import json
import pathlib
import random
import subprocess
import sys
import types
import uuid
from collections.abc import Callable

from oslo_vmware import vim_util

from vmdk_volume.vsphere import properties

INTREE_DRIVER = 'cinder.volume.drivers.vmware.vmdk.VMwareVcVmdkDriver'
CONNECTOR = {'host': 'backup-1', 'ip': '10.0.0.9', 'initiator': None}   # no instance
BEFORE, AFTER = b'in-tree data at the snapshot\n' * 64, b'written after the snapshot\n' * 64
MOVED = b'copied by a generic migration\n' * 64
NEW_PROJECT = 'p-transferred'
# 1 MiB that does not compress (our driver refuses the exports of qemu-img's streams of
# compressible data, see the report of issue 13)
IMAGE = random.Random(13).randbytes(1024 * 1024)
ROOT = pathlib.Path(__file__).resolve().parents[2]


def produce(database: pathlib.Path, vc, sections: dict[str, str],
            workdir: pathlib.Path) -> dict:
    """Make the objects with the in-tree driver on ``vc``, one backend section per
    ``vmware_snapshot_format`` (``sections``: name -> format): per section, the ids of what
    it made, by role (see ``_make``)."""
    return _run(database, vc, sections, workdir)


def attached_by_intree(database: pathlib.Path, vc, sections: dict[str, str],
                       workdir: pathlib.Path, volumes: dict[str, list[str]]) -> dict:
    """The in-tree driver started again on ``sections`` (a rollback): the backing (moref
    value) its VolumeManager's initialize_connection hands over for each volume id of
    ``volumes`` (section -> ids)."""
    return _run(database, vc, sections, workdir, attach=volumes)


def _run(database, vc, sections, workdir, **request) -> dict:
    from vmdk_volume_simkit import build, wsdl
    request.update(database=str(database), sections=sections, workdir=str(workdir),
                   host=vc.host, port=vc.port, ca_file=vc.ca_file,
                   wsdl=str(wsdl.ensure(build.cache_root() / 'wsdl') / 'vimService.wsdl'))
    done = subprocess.run([sys.executable, '-m', 'tests.cinder.intree', json.dumps(request)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError('the in-tree driver failed:\n' + done.stderr[-6000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def disk_file(read: Callable[[object, str], object], vm) -> pathlib.Path:
    """The simulator's local file of the first disk of the VM ``vm`` (clones and disk copies
    copy it, so it carries a volume's data); ``read(moref, path)`` reads a property."""
    devices = read(vm, 'config.hardware.device').VirtualDevice
    disk = next(d for d in devices if type(d).__name__ == 'VirtualDisk')
    url = read(disk.backing.datastore, 'info.url')
    return pathlib.Path(url) / disk.backing.fileName.split('] ', 1)[1]


def reader(client) -> Callable[[object, str], object]:
    """``disk_file``'s ``read`` through our vSphere client."""
    return lambda ref, path: properties.fetch_one(client, ref, [path]).get(path)


def _image(harness, workdir: pathlib.Path) -> str:
    """A streamOptimized VMDK image of ``IMAGE`` in the harness's Glance."""
    raw, vmdk = workdir / 'image.raw', workdir / 'image.vmdk'
    raw.write_bytes(IMAGE)
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=streamOptimized', str(raw), str(vmdk)], check=True)
    return harness.images.add(vmdk, 'vmdk', vmware_disktype='streamOptimized')


def _make(harness, section: str, image_id: str) -> dict:
    manager, context = harness.managers[section], harness.context
    session = manager.driver.session

    def read(ref, path):
        return session.invoke_api(vim_util, 'get_object_property', session.vim, ref, path)

    def attached(volume):
        manager.initialize_connection(context, volume, CONNECTOR)   # makes its backing
        return manager.driver.volumeops.get_backing_by_uuid(volume.id)

    backed = harness.create_volume(section)
    disk_file(read, attached(backed)).write_bytes(BEFORE)
    snapshot = harness.create_snapshot(section, backed)
    disk_file(read, manager.driver.volumeops.get_backing_by_uuid(backed.id)).write_bytes(AFTER)
    lazy = harness.create_volume(section)
    clone = harness.create_volume(section, source_volid=backed.id)
    linked_type = harness.volume_type('in-tree-linked-%s' % section,
                                      {'vmware:clone_type': 'linked'})
    linked = harness.create_volume(section, source_volid=backed.id, volume_type=linked_type)
    from_snapshot = harness.create_volume(section, snapshot_id=snapshot.id)
    from_image = harness.create_volume(section, image_id=image_id)
    old = harness.create_volume(section)
    _as_before_instance_uuid(session, attached(old))
    migrated, migration_source = _migrated(harness, section, attached, read)
    attached_snapshot = None
    if manager.driver.configuration.vmware_snapshot_format == 'template':
        attached_snapshot = _of_attached(harness, section, attached, read)
    return {'attached_snapshot': attached_snapshot, 'migrated': migrated,
            'migration_source': migration_source,
            'transferred': _transferred(harness, section, attached),
            'backed': backed.id, 'snapshot': snapshot.id, 'lazy': lazy.id,
            'lazy_snapshot': harness.create_snapshot(section, lazy).id, 'clone': clone.id,
            'linked': linked.id, 'from_snapshot': from_snapshot.id,
            'from_image': from_image.id, 'old': old.id,
            'statuses': sorted({v.status for v in (backed, lazy, clone, linked, from_snapshot,
                                                   from_image, old)})}


def _migrated(harness, section: str, attached, read) -> tuple[str, str]:
    """A volume after Cinder's generic migration to an in-tree backend, and the migration
    source's row (ids). Cinder's fake messaging cannot carry a migration, so its steps are run
    here as ``_migrate_volume_generic`` and ``migrate_volume_completion`` run them: the
    destination volume is made (and its backing, attached), the data copied into it, then
    Cinder's ``VolumeManager.update_migrated_volume`` (the in-tree driver has none: ``_name_id``
    becomes the destination's id) and ``Volume.finish_volume_migration`` swap the rows. The
    volume keeps its id; its backing is ``volume-<name_id>``, marked with the name_id. The
    source's row (the destination's id, ``_name_id`` the volume's id, 'deleting') is left
    for the deletion Cinder casts then; the in-tree driver would look that up by the row's
    id and find the migrated backing (its ``get_backing(volume.name, volume.id)``), so the
    cast is taken by our driver after the switch."""
    manager, context = harness.managers[section], harness.context
    volume = harness.create_volume(section)
    disk_file(read, attached(volume)).write_bytes(MOVED)
    destination = harness.create_volume(section)
    disk_file(read, attached(destination)).write_bytes(MOVED)
    volume.update({'migration_status': 'migrating', 'previous_status': 'available'})
    volume.save()
    manager.update_migrated_volume(context, volume, destination, 'available')
    volume.refresh()
    destination.refresh()
    source = volume.finish_volume_migration(destination)
    volume.update({'status': 'available', 'migration_status': 'success'})
    volume.save()
    return volume.id, source.id


def _of_attached(harness, section: str, attached, read) -> str:
    """A template snapshot of a volume attached to an instance, as the in-tree driver takes
    it: a clone of the instance keeping only the volume's disk, which the instance's
    extraConfig ``volume-<id>`` names (its ``_create_temp_backing_from_attached_vmdk``).
    The instance and its attachment are what Nova's vmwareapi makes (not installed here):
    a VM with a root disk, the backing's disk added to it, that extraConfig key set to the
    added disk's UUID. The disk holds ``BEFORE`` at the snapshot, ``AFTER`` from the detach
    on; the instance is gone then."""
    from cinder import objects
    manager, context = harness.managers[section], harness.context
    ops = manager.driver.volumeops
    volume = harness.create_volume(section)
    backing = attached(volume)
    disk_file(read, backing).write_bytes(BEFORE)
    instance_uuid = str(uuid.uuid4())
    # the instance beside the backing (its host, pool and datastore), in the VM folder
    instance = ops.create_backing('instance-%s' % instance_uuid, 1024, 'thin',
                                  ops.get_vmfolder(ops.get_dc(backing)),
                                  read(backing, 'resourcePool'), ops.get_host(backing),
                                  ops.get_summary(ops.get_datastore(backing)).name,
                                  extra_config={'instanceUuid': instance_uuid})
    ops.update_backing_disk_uuid(instance, str(uuid.uuid4()))     # vCenter gives every disk one
    ops.attach_disk_to_backing(instance, volume.size * 1024 * 1024, 'thin', 'lsiLogic', None,
                               ops.get_vmdk_path(backing))
    disk = ops.get_disk_device(instance, ops.get_vmdk_path(backing))
    _set_option(manager.driver.session, instance, 'volume-%s' % volume.id, disk.backing.uuid)
    attachment = objects.VolumeAttachment(
        context=context, volume_id=volume.id, instance_uuid=instance_uuid,
        attached_host='compute-1', mountpoint='/dev/sdb', attach_mode='rw',
        attach_status='attached')
    attachment.create()
    volume.update({'status': 'in-use', 'attach_status': 'attached'})
    volume.save()
    snapshot = harness.create_snapshot(section, volume)
    if snapshot.status != 'available':
        raise RuntimeError('the snapshot of the attached volume is %s' % snapshot.status)
    ops.detach_disk_from_backing(instance, disk)
    ops.delete_backing(instance)
    attachment.destroy()
    volume.update({'status': 'available', 'attach_status': 'detached'})
    volume.save()
    disk_file(read, backing).write_bytes(AFTER)
    return snapshot.id


def _set_option(session, vm, key: str, value: str) -> None:
    """Set the extraConfig option ``key`` of ``vm``: one ReconfigVM task."""
    factory = session.vim.client.factory
    option = factory.create('ns0:OptionValue')
    option.key, option.value = key, value
    spec = factory.create('ns0:VirtualMachineConfigSpec')
    spec.extraConfig = [option]
    session.wait_for_task(session.invoke_api(session.vim, 'ReconfigVM_Task', vm, spec=spec))


def _transferred(harness, section: str, attached) -> str:
    """A volume (with backing) the in-tree driver handed to project ``NEW_PROJECT``, as
    Cinder's transfer API does (its RPC client cannot be made on the harness's service
    rows): the transfer record it writes, the volume manager's accept_transfer (the cast),
    then the database's transfer_accept."""
    from cinder.db import api as db
    volume = harness.create_volume(section)
    attached(volume)
    transfer = db.transfer_create(harness.context, {
        'volume_id': volume.id, 'display_name': 'to ' + NEW_PROJECT, 'salt': 'salt',
        'crypt_hash': 'hash', 'expires_at': None, 'no_snapshots': False,
        'source_project_id': volume.project_id})
    harness.managers[section].accept_transfer(harness.context, volume.id, 'u2', NEW_PROJECT)
    db.transfer_accept(harness.context.elevated(), transfer['id'], 'u2', NEW_PROJECT)
    return volume.id


def _as_before_instance_uuid(session, vm) -> None:
    """A backing as in-tree releases before instanceUuid = volume id made it: a random
    instanceUuid, no cinder.volume.id mark; only its name says which volume it is."""
    factory = session.vim.client.factory
    option = factory.create('ns0:OptionValue')
    option.key, option.value = 'cinder.volume.id', ''
    spec = factory.create('ns0:VirtualMachineConfigSpec')
    spec.instanceUuid, spec.extraConfig = str(uuid.uuid4()), [option]
    session.wait_for_task(session.invoke_api(session.vim, 'ReconfigVM_Task', vm, spec=spec))


def main(request: dict) -> None:
    from vmdk_volume_simkit.harness.cinder import Cinder
    vc = types.SimpleNamespace(host=request['host'], port=request['port'],
                               ca_file=request['ca_file'])
    sections = request['sections']
    harness = Cinder(pathlib.Path(request['workdir']), dict.fromkeys(sections, vc), {
        section: {'volume_driver': INTREE_DRIVER,
                  'vmware_wsdl_location': 'file://' + request['wsdl'],
                  'vmware_task_poll_interval': '0.05', 'vmware_api_retry_count': '2',
                  'vmware_snapshot_format': snapshot_format}
        for section, snapshot_format in sections.items()},
        database=pathlib.Path(request['database']))
    try:
        if 'attach' in request:
            done = _attach(harness, request['attach'])
        else:
            image_id = _image(harness, pathlib.Path(request['workdir']))
            done = {section: _make(harness, section, image_id) for section in sections}
    finally:
        harness.stop()
    print(json.dumps(done))


def _attach(harness, volumes: dict[str, list[str]]) -> dict[str, str]:
    from cinder import objects
    context = harness.context
    return {volume_id: harness.managers[section].initialize_connection(
        context, objects.Volume.get_by_id(context, volume_id), CONNECTOR)['data']['volume']
        for section, ids in volumes.items() for volume_id in ids}


if __name__ == '__main__':
    main(json.loads(sys.argv[1]))
