"""Cinder's in-tree VMDK driver as the producer of an upgrade, and disk bytes in the simulator.

``produce`` runs Cinder's own VolumeManager with ``cinder.volume.drivers.vmware.vmdk`` in a
process of its own (its options and ours never meet in one cinder-volume; in one process they
would clash) on the database the tests then serve with our driver, and makes through it every
kind of object an operator's database holds: volumes with and without a backing, clones,
volumes from snapshots, snapshots of each format and of a volume without backing, and a
backing as releases before instanceUuid left it. Run as ``python -m tests.cinder.intree``.
"""

import json
import pathlib
import subprocess
import sys
import types
import uuid

from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import properties
from vmdk_volume.vsphere import session as vsession

INTREE_DRIVER = 'cinder.volume.drivers.vmware.vmdk.VMwareVcVmdkDriver'
CONNECTOR = {'host': 'backup-1', 'ip': '10.0.0.9', 'initiator': None}   # no instance
BEFORE, AFTER = b'in-tree data at the snapshot\n' * 64, b'written after the snapshot\n' * 64
ROOT = pathlib.Path(__file__).resolve().parents[2]


def produce(database: pathlib.Path, vc, section: str, snapshot_format: str,
            workdir: pathlib.Path) -> dict:
    """Make the objects with the in-tree driver on ``vc`` for backend ``section``: the ids
    of what it made, by role (see ``_make``)."""
    from vmdk_volume.simkit import build, wsdl
    request = dict(database=str(database), section=section, format=snapshot_format,
                   workdir=str(workdir), host=vc.host, port=vc.port, ca_file=vc.ca_file,
                   wsdl=str(wsdl.ensure(build.cache_root() / 'wsdl') / 'vimService.wsdl'))
    done = subprocess.run([sys.executable, '-m', 'tests.cinder.intree', json.dumps(request)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError('the in-tree driver failed:\n' + done.stderr[-6000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def client_for(vc) -> vclient.Client:
    return vclient.Client.connect(vsession.Endpoint(
        host=vc.host, port=vc.port, username='admin', password='secret', ca_file=vc.ca_file,
        api_retry_count=2))


def disk_file(client, ref: str) -> pathlib.Path:
    """The simulator's local file of the first disk of VM ``ref`` (clones and disk copies
    copy it, so it carries a volume's data)."""
    vm = client.ref('VirtualMachine', ref)
    devices = properties.fetch_one(client, vm, ['config.hardware.device'])
    disk = next(d for d in devices['config.hardware.device'].VirtualDevice
                if type(d).__name__ == 'VirtualDisk')
    url = properties.fetch_one(client, disk.backing.datastore, ['info.url'])['info.url']
    return pathlib.Path(url) / disk.backing.fileName.split('] ', 1)[1]


def _make(harness, section: str, snapshot_format: str, client) -> dict:
    manager, context = harness.managers[section], harness.context

    def attached(volume):
        manager.initialize_connection(context, volume, CONNECTOR)   # makes its backing
        return _backing(client, volume.id)

    backed = harness.create_volume(section)
    disk_file(client, attached(backed)).write_bytes(BEFORE)
    snapshot = harness.create_snapshot(section, backed)
    if snapshot_format == 'template':
        disk_file(client, _backing(client, backed.id)).write_bytes(AFTER)
    lazy = harness.create_volume(section)
    clone = harness.create_volume(section, source_volid=backed.id)
    from_snapshot = harness.create_volume(section, snapshot_id=snapshot.id)
    old = harness.create_volume(section)
    _as_before_instance_uuid(client, attached(old))
    return {'backed': backed.id, 'snapshot': snapshot.id, 'lazy': lazy.id,
            'lazy_snapshot': harness.create_snapshot(section, lazy).id, 'clone': clone.id,
            'from_snapshot': from_snapshot.id, 'old': old.id,
            'statuses': sorted({v.status for v in (backed, lazy, clone, from_snapshot, old)})}


def _backing(client, volume_id: str) -> str:
    found = client.call('FindAllByUuid', client.content.searchIndex, uuid=volume_id,
                        vmSearch=True, instanceUuid=True)
    return found[0].value


def _as_before_instance_uuid(client, ref: str) -> None:
    """A backing as in-tree releases before instanceUuid = volume id made it: a random
    instanceUuid, no cinder.volume.id mark; only its name says which volume it is."""
    client.run('ReconfigVM_Task', client.ref('VirtualMachine', ref), spec=client.create(
        'VirtualMachineConfigSpec', instanceUuid=str(uuid.uuid4()),
        extraConfig=[client.create('OptionValue', key='cinder.volume.id', value='')]))


def main(request: dict) -> None:
    from vmdk_volume.cinder_harness import Cinder
    vc = types.SimpleNamespace(host=request['host'], port=request['port'],
                               ca_file=request['ca_file'])
    section = request['section']
    harness = Cinder(pathlib.Path(request['workdir']), {section: vc}, {section: {
        'volume_driver': INTREE_DRIVER, 'vmware_wsdl_location': 'file://' + request['wsdl'],
        'vmware_task_poll_interval': '0.05', 'vmware_api_retry_count': '2',
        'vmware_snapshot_format': request['format']}},
        database=pathlib.Path(request['database']))
    client = client_for(vc)
    try:
        made = _make(harness, section, request['format'], client)
    finally:
        client.close()
        harness.stop()
    print(json.dumps(made))


if __name__ == '__main__':
    main(json.loads(sys.argv[1]))
