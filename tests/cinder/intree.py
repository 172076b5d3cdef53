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
(full and linked), volumes from snapshots and from a streamOptimized image, snapshots of each
format and of a volume without backing, and a backing as releases before instanceUuid left
it. Run as ``python -m tests.cinder.intree``.
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
# 1 MiB that does not compress (our driver refuses the exports of qemu-img's streams of
# compressible data, see the report of issue 13)
IMAGE = random.Random(13).randbytes(1024 * 1024)
ROOT = pathlib.Path(__file__).resolve().parents[2]


def produce(database: pathlib.Path, vc, sections: dict[str, str],
            workdir: pathlib.Path) -> dict:
    """Make the objects with the in-tree driver on ``vc``, one backend section per
    ``vmware_snapshot_format`` (``sections``: name -> format): per section, the ids of what
    it made, by role (see ``_make``)."""
    from vmdk_volume_simkit import build, wsdl
    request = dict(database=str(database), sections=sections, workdir=str(workdir),
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
    return {'backed': backed.id, 'snapshot': snapshot.id, 'lazy': lazy.id,
            'lazy_snapshot': harness.create_snapshot(section, lazy).id, 'clone': clone.id,
            'linked': linked.id, 'from_snapshot': from_snapshot.id,
            'from_image': from_image.id, 'old': old.id,
            'statuses': sorted({v.status for v in (backed, lazy, clone, linked, from_snapshot,
                                                   from_image, old)})}


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
        image_id = _image(harness, pathlib.Path(request['workdir']))
        made = {section: _make(harness, section, image_id) for section in sections}
    finally:
        harness.stop()
    print(json.dumps(made))


if __name__ == '__main__':
    main(json.loads(sys.argv[1]))
