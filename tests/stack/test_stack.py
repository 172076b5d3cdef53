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

"""The volume lifecycle as an operator drives it through the whole service stack: cinderclient
against cinder-api, the scheduler and two cinder-volume nodes of one cluster over RabbitMQ,
MariaDB and Redis (tests/stack/services.py). The tests run in order and share the stack; the
last one checks that vCenter keeps nothing Cinder does not own."""

import pathlib
import subprocess

import pytest
from cinderclient import exceptions as cinder_exceptions

from tests import vcenter
from tests.cinder import racing
from tests.cinder.helpers import BRICK_CONNECTOR, RAW, disk_file
from tests.cinder.nova_attach import disks, instances, volume_disk
from tests.cinder.nova_compute import NovaCompute
from tests.stack import services
from tests.stack.operations import STEPS, TIMEOUT_S, client, wait_gone, wait_status
from vmdk_volume.cmd import cinderconf
from vmdk_volume.core import backend as vbackend
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.units import GiB

OTHER_PROJECT = '0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5'
ATTACH_ROUNDS = 6
KILL_AT_ROUND = 2       # kill -9 node1's cinder-volume before this round
RESTART_AT_ROUND = 4    # and start it again before this one


@pytest.fixture(scope='module')
def vsphere(stack):
    """The tests' view (``tests.vcenter``) of each backend section's vCenter, logged in as
    ``vmdk-volume`` does."""
    conf = cinderconf.load([str(stack.conf)])
    backends = {section.name: vbackend.Backend.connect(BackendConfig.from_options(section))
                for section in conf.ours()}
    yield {name: vcenter.VCenter(backend) for name, backend in backends.items()}
    for backend in backends.values():
        backend.close()


@pytest.fixture(scope='module')
def connector(vsphere):
    """Nova's vmwareapi connector for an instance VM on vc1."""
    instance = instances(vsphere['vc1'].client)[0]
    return {'ip': '127.0.0.1', 'host': instance.host_name, 'initiator': None,
            'instance': instance.ref}


@pytest.fixture(scope='module')
def types(cinder):
    made = {name: cinder.volume_types.create(name) for name in ('thin', 'thick', 'vc2')}
    made['thin'].set_keys({'volume_backend_name': 'vc1', 'vmware:vmdk_type': 'thin'})
    made['thick'].set_keys({'volume_backend_name': 'vc1', 'vmware:vmdk_type': 'thick'})
    made['vc2'].set_keys({'volume_backend_name': 'vc2'})
    yield made
    for volume_type in made.values():
        cinder.volume_types.delete(volume_type)


def create(cinder, name: str, size: int = 1, **kwargs):
    volume = cinder.volumes.create(size, name=name, **kwargs)
    return wait_status(cinder.volumes, volume.id, 'available')


def attach(cinder, volume, connector):
    """Nova's attach: attachment create with the connector, then complete."""
    attachment = cinder.attachments.create(volume.id, connector, instance_id=None)
    cinder.attachments.complete(attachment['id'])
    wait_status(cinder.volumes, volume.id, 'in-use')
    return attachment


def detach(cinder, volume, attachment) -> None:
    cinder.attachments.delete(attachment['id'])
    wait_status(cinder.volumes, volume.id, 'available')


def delete(cinder, *volumes) -> None:
    for volume in volumes:
        cinder.volumes.delete(volume.id)
    for volume in volumes:
        wait_gone(cinder.volumes, volume.id)


def test_lifecycle(cinder, stack, types, connector):
    step = STEPS.step
    with step('create (thin, vc1)'):
        volume = create(cinder, 'stack-a', volume_type='thin')
    with step('attach: attachment create, complete'):
        attachment = attach(cinder, volume, connector)
    with step('detach: attachment delete'):
        detach(cinder, volume, attachment)
    with step('snapshot'):
        snapshot = cinder.volume_snapshots.create(volume.id, name='stack-snap')
        wait_status(cinder.volume_snapshots, snapshot.id, 'available')
    with step('volume from snapshot'):
        from_snapshot = create(cinder, 'stack-from-snap', snapshot_id=snapshot.id,
                               volume_type='thin')
    with step('clone'):
        clone = create(cinder, 'stack-clone', source_volid=volume.id, volume_type='thin')
    with step('extend 1 -> 2 GiB'):
        cinder.volumes.extend(volume, 2)
        assert wait_status(cinder.volumes, volume.id, 'available').size == 2
    with step('retype thin -> thick (same backend)'):
        cinder.volumes.retype(volume, 'thick', 'never')
        wait_for_type(cinder, volume, 'thick')
    with step('snapshot delete'):
        cinder.volume_snapshots.delete(snapshot)
        wait_gone(cinder.volume_snapshots, snapshot.id)
    with step('migrate to the other backend of its vCenter'):
        migrate_within_vcenter(cinder, volume)
    with step('transfer create, accept (another project)'):
        transfer = cinder.transfers.create(volume.id, name='stack-transfer')
        client(stack.api_url, OTHER_PROJECT).transfers.accept(transfer.id, transfer.auth_key)
        accepted = wait_status(cinder.volumes, volume.id, 'available')
        assert accepted.to_dict()['os-vol-tenant-attr:tenant_id'] == OTHER_PROJECT
    with step('get-pools'):
        pools = {pool.name: pool for pool in cinder.pools.list(detailed=True)}
        # a pool is named by its volume_backend_name (vc1b shares vc1's)
        assert {name.split('@')[1] for name in pools} == {'vc1#vc1', 'vc2#vc2', 'vc1b#vc1'}
        assert all(pool.free_capacity_gb > 0 for pool in pools.values())
    with step('on vc2: create, snapshot, delete'):
        on_vc2 = create(cinder, 'stack-vc2', volume_type='vc2')
        assert backend_of(on_vc2) == 'vc2'
        snapshot = cinder.volume_snapshots.create(on_vc2.id, name='stack-snap-vc2')
        wait_status(cinder.volume_snapshots, snapshot.id, 'available')
        cinder.volume_snapshots.delete(snapshot)
        wait_gone(cinder.volume_snapshots, snapshot.id)
        delete(cinder, on_vc2)
    with step('unmanage, manageable-list, manage'):
        managed = unmanage_and_manage(cinder, clone)
    with step('delete'):
        delete(cinder, volume, from_snapshot, managed)


def backend_of(volume) -> str:
    """The backend section holding ``volume`` (vc1 in ``node1@vc1#vc1``)."""
    return volume.to_dict()['os-vol-host-attr:host'].split('@')[1].split('#')[0]


def migrate_within_vcenter(cinder, volume) -> str:
    """Migrate ``volume`` between vc1 and vc1b (one vCenter) by the cluster; the target."""
    target = {'vc1': 'vc1b', 'vc1b': 'vc1'}[backend_of(cinder.volumes.get(volume.id))]
    cinder.volumes.migrate_volume(volume, None, False, False,
                                  cluster='stack@%s#%s' % (target, target))
    migrated = wait_status(cinder.volumes, volume.id, 'success', 'migration_status')
    assert backend_of(migrated) == target
    return target


def wait_for_type(cinder, volume, type_name: str) -> None:
    services.wait_for('%s retyped to %s' % (volume.id, type_name), lambda: (
        cinder.volumes.get(volume.id).volume_type == type_name), 120)
    wait_status(cinder.volumes, volume.id, 'available')


def unmanage_and_manage(cinder, volume):
    """Unmanage ``volume``; its VM is listed as manageable and managed again."""
    cinder.volumes.unmanage(volume)
    wait_gone(cinder.volumes, volume.id)
    backend = backend_of(volume)
    listed = cinder.volumes.list_manageable(None, detailed=True, cluster='stack@' + backend)
    entry, = [e for e in listed if e.extra_info['name'] == 'volume-%s' % volume.id]
    assert entry.safe_to_manage and entry.size == volume.size, entry
    managed = cinder.volumes.manage(None, entry.reference, name='stack-managed',
                                    volume_type='thin',
                                    cluster='stack@%s#%s' % (backend, backend))
    return wait_status(cinder.volumes, managed.id, 'available')


@pytest.fixture(scope='module')
def nova(vcenters):
    """Nova's compute side on vc1, attaching volumes to its instances."""
    compute = NovaCompute(vcenters['vc1'])
    yield compute
    compute.close()


def test_attached_extend_and_backups(cinder, stack, types, vsphere, nova, before, tmp_path):
    """An attached volume holding data is extended and backed up, then backed up detached;
    each backup restores into a new volume with the same bytes."""
    step = STEPS.step
    instance = instances(vsphere['vc1'].client)[0]
    volume = create(cinder, 'stack-data', volume_type='thin')
    with step('attach by Nova (its connector, attach_volume)'):
        attached = nova_attach(cinder, nova, volume, instance, before, vsphere)
    with step('extend attached 1 -> 2 GiB'):
        extend_attached(cinder, stack, volume, 2)
    assert volume_disk(vsphere['vc1'].client, instance.ref, volume.id).capacityInBytes == 2 * GiB
    with step('backup create, attached (--force)'):
        backups = [backup(cinder, volume, 'stack-backup-attached', force=True)]
        wait_status(cinder.volumes, volume.id, 'in-use')
    with step('detach by Nova, attachment delete refused, reset-state'):
        nova_detach(cinder, stack, nova, volume, attached, instance)
    with step('backup create, detached'):
        backups.append(backup(cinder, volume, 'stack-backup-detached'))
    restored = []
    for backed in backups:
        with step('backup restore into a new volume (%s)' % backed.name):
            restored.append(restore(cinder, backed))
        assert holds_raw(vsphere, restored[-1], tmp_path)
    with step('backup delete'):
        for backed in backups:
            cinder.backups.delete(backed)
        for backed in backups:
            wait_gone(cinder.backups, backed.id)
    delete(cinder, volume, *restored)


def test_moves_across_vcenters(cinder, stack, types, vsphere, connector, before, tmp_path):
    """A retype to a type of the other vCenter's backend (migration on demand) and a
    migration to the other vCenter's backend: the driver streams the disk from vCenter to
    vCenter (both backends are in each node's enabled_backends); the bytes arrive. Cinder
    lets a driver move a retyped volume only when neither type has an extra spec but
    ``volume_backend_name`` (``_can_use_driver_migration`` counts equal ones too)."""
    step = STEPS.step
    vc1 = cinder.volume_types.create('vc1')
    vc1.set_keys({'volume_backend_name': 'vc1'})
    retyped = create(cinder, 'stack-retyped', volume_type='vc1')
    detach(cinder, retyped, attach_with_data(cinder, retyped, connector, before, vsphere))
    with step('retype vc1 -> vc2 (other vCenter), migration on demand'):
        cinder.volumes.retype(retyped, 'vc2', 'on-demand')
        wait_for_type(cinder, retyped, 'vc2')
    assert backend_of(cinder.volumes.get(retyped.id)) == 'vc2'
    assert holds_raw(vsphere, cinder.volumes.get(retyped.id), tmp_path)
    migrated = create(cinder, 'stack-migrated')
    detach(cinder, migrated, attach_with_data(cinder, migrated, BRICK_CONNECTOR, before,
                                              vsphere))
    target = 'vc1' if backend_of(cinder.volumes.get(migrated.id)) == 'vc2' else 'vc2'
    with step('migrate to the other vCenter'):
        cinder.volumes.migrate_volume(migrated, None, False, False,
                                      cluster='stack@%s#%s' % (target, target))
        moved = wait_status(cinder.volumes, migrated.id, 'success', 'migration_status')
    assert backend_of(moved) == target
    assert holds_raw(vsphere, moved, tmp_path)
    delete(cinder, retyped, migrated)
    cinder.volume_types.delete(vc1)


def attach_with_data(cinder, volume, connector: dict, data: bytes, vsphere):
    """An attachment of ``volume`` (without an instance uuid) for ``connector``, once its
    backing holds ``data``."""
    attachment = attach(cinder, volume, connector)
    backing_file(vsphere, cinder.volumes.get(volume.id)).write_bytes(data)
    return attachment


def nova_attach(cinder, nova, volume, instance, data: bytes, vsphere) -> dict:
    """Nova's attach of ``volume`` to ``instance`` with ``data`` written into the backing
    Cinder made for the attachment, before Nova opens it: the attachment (as Cinder's
    API shows it) and the connection info Nova keeps."""
    connector = nova.connector(instance.uuid)
    attachment = cinder.attachments.create(volume.id, connector, instance_id=instance.uuid)
    backing_file(vsphere, cinder.volumes.get(volume.id)).write_bytes(data)
    connection_info = nova.attach(dict(attachment), instance.uuid)
    cinder.attachments.complete(attachment['id'])
    wait_status(cinder.volumes, volume.id, 'in-use')
    return {'attachment': attachment, 'connection_info': connection_info}


def nova_detach(cinder, stack, nova, volume, attached: dict, instance) -> None:
    """Nova's detach_volume, then the attachment's delete, which Cinder grants a user only
    once Nova says the instance no longer uses it (bug 2004555; a request with Nova's
    service token skips the question): without Keystone its Nova client finds no endpoint
    and the API answers 500, so the operator resets the attach status (os-reset_status
    marks the attachment detached)."""
    nova.detach(attached['connection_info'], instance.uuid)
    with pytest.raises(cinder_exceptions.ClientException) as refused:
        cinder.attachments.delete(attached['attachment']['id'])
    assert refused.value.code == 500
    assert any(refused.value.request_id in line and 'EndpointNotFound' in line
               for line in stack.log_lines('cinder-api'))
    cinder.volumes.reset_state(volume, 'available', attach_status='detached')
    wait_status(cinder.volumes, volume.id, 'available')
    assert not cinder.attachments.list(search_opts={'volume_id': volume.id})


def extend_attached(cinder, stack, volume, size: int) -> None:
    """Extend an in-use volume (microversion 3.42 and later): it stays in-use at ``size``
    (the driver grew the instance's disk). Cinder then tells Nova through Keystone's service
    catalog, which noauth has not: cinder-volume logs EndpointNotFound for the request and
    leaves no user message (Cinder 29 makes one only when Nova answers a failure)."""
    request_id = cinder.volumes.extend(volume, size).request_ids[0]
    services.wait_for('%s at %d GiB' % (volume.id, size),
                      lambda: cinder.volumes.get(volume.id).size == size, TIMEOUT_S)
    assert wait_status(cinder.volumes, volume.id, 'in-use').size == size
    services.wait_for('EndpointNotFound for %s' % request_id, lambda: any(
        request_id in line and 'EndpointNotFound' in line
        for line in stack.log_lines('volume-')), TIMEOUT_S)
    assert not cinder.messages.list(search_opts={'resource_uuid': volume.id})


def backup(cinder, volume, name: str, force: bool = False):
    made = cinder.backups.create(volume.id, name=name, force=force)
    return wait_status(cinder.backups, made.id, 'available')


def restore(cinder, backed):
    """A new volume restored from ``backed``, once available (and the backup again)."""
    restored = cinder.restores.restore(backed.id, name='stack-restored-%s' % backed.name)
    wait_status(cinder.backups, backed.id, 'available')
    return wait_status(cinder.volumes, restored.volume_id, 'available')


def backing_file(vsphere, volume) -> pathlib.Path:
    """The simulator's file of the volume's disk, its backing found by the volume id."""
    view = vsphere[backend_of(volume)]
    return disk_file(view.client, disks(view.client, view.find(volume.id))[0])


def holds_raw(vsphere, volume, tmp_path) -> bool:
    """Whether the volume's disk starts with ``RAW``, read as the simulator exports it: a
    sparse file (an upload, or our write) converted to raw by qemu-img, else the -flat
    extent of a flat disk (as a copy of a disk makes it)."""
    disk = backing_file(vsphere, volume)
    raw = disk.with_name(disk.name.removesuffix('.vmdk') + '-flat.vmdk')
    with disk.open('rb') as head:
        sparse = head.read(4) == b'KDMV'
    if sparse:
        raw = tmp_path / ('%s.raw' % volume.id)
        subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw', str(disk), str(raw)],
                       check=True)
    with raw.open('rb') as data:
        return data.read(len(RAW)) == RAW


def test_snapshot_manage(cinder, stack, types, connector, vsphere):
    """A VM snapshot an operator took of a backing is listed as manageable and managed."""
    volume = create(cinder, 'stack-snapshotted', volume_type='thin')
    detach(cinder, volume, attach(cinder, volume, connector))
    backend = backend_of(cinder.volumes.get(volume.id))
    view = vsphere[backend]
    view.snapshot(view.find(volume.id), 'operator-snapshot')
    with STEPS.step('snapshot-manageable-list, snapshot-manage'):
        listed = cinder.volume_snapshots.list_manageable(None, detailed=True,
                                                         cluster='stack@' + backend)
        entry, = [e for e in listed if e.extra_info['name'] == 'operator-snapshot']
        assert entry.safe_to_manage and entry.source_reference['source-id'] == view.find(
            volume.id), entry
        managed = cinder.volume_snapshots.manage(volume.id, entry.reference,
                                                 name='stack-managed-snapshot')
        wait_status(cinder.volume_snapshots, managed.id, 'available')
    with STEPS.step('managed snapshot delete'):
        cinder.volume_snapshots.delete(managed)
        wait_gone(cinder.volume_snapshots, managed.id)
    assert not view.describe(view.find(volume.id)).snapshots
    delete(cinder, volume)


def test_an_invalid_extra_spec_fails_once_with_a_user_message(cinder, stack):
    """The volume goes to error after one try (not rescheduled: one user message, not one
    per attempt); Cinder's messages are a fixed catalogue, so the cause is in the volume
    service's log under the message's request id."""
    bad = cinder.volume_types.create('bad')
    bad.set_keys({'volume_backend_name': 'vc1', 'vmware:vmdk_type': 'fat'})
    with STEPS.step('create with an invalid extra spec: error'):
        volume = cinder.volumes.create(1, name='stack-bad', volume_type='bad')
        wait_status(cinder.volumes, volume.id, 'error')
    message, = cinder.messages.list(search_opts={'resource_uuid': volume.id})
    assert 'Driver failed to create the volume' in message.user_message
    cause = "vmware:vmdk_type='fat' is invalid; allowed values: thin, thick, eagerZeroedThick"
    assert any(cause in line for line in stack.log_lines('volume-') if message.request_id in line)
    delete(cinder, volume)
    cinder.volume_types.delete(bad)


def test_kill_9_of_one_node_in_an_attach_loop(cinder, stack, types, connector, vsphere):
    """Attach and detach rounds; node1's cinder-volume is killed (between two operations)
    and later started again: node2 serves the cluster meanwhile, node1 again after."""
    volumes = [create(cinder, 'stack-loop-%d' % i, volume_type='thin') for i in range(2)]
    served = {}         # round -> attachment operations each node completed before it
    for number in range(ATTACH_ROUNDS):
        if number == KILL_AT_ROUND:
            with STEPS.step('kill -9 cinder-volume of node1'):
                stack.processes['volume-node1'].kill()
        if number == RESTART_AT_ROUND:
            with STEPS.step('restart cinder-volume of node1'):
                restart_node(stack, 'node1')
        served[number] = attachments_served(stack)
        with STEPS.step('attach round %d (2 volumes: attach, detach)' % number):
            for volume in volumes:
                detach(cinder, volume, attach(cinder, volume, connector))
    served[ATTACH_ROUNDS] = attachments_served(stack)
    down = KILL_AT_ROUND, RESTART_AT_ROUND
    assert served[down[1]]['node2'] - served[down[0]]['node2'] == 4 * (down[1] - down[0])
    assert served[ATTACH_ROUNDS]['node1'] > served[down[1]]['node1']
    assert racing.duplicate_backings(vsphere['vc1'].client) == {}
    assert all(not cinder.attachments.list(search_opts={'volume_id': v.id}) for v in volumes)
    delete(cinder, *volumes)


SERVED = ('attachment_update completed', 'Terminate volume connection completed')


def attachments_served(stack) -> dict[str, int]:
    """How many attachment updates and deletes each node's cinder-volume completed."""
    return {node: sum(any(text in line for text in SERVED)
                      for line in stack.log_lines('volume-' + node)) for node in stack.nodes}


def restart_node(stack, node: str) -> None:
    """Start the node's cinder-volume; return once every backend's process of it consumes
    its cluster's queue (after init_host: the service row is updated before that)."""
    log = 'volume-' + node
    seen = len(stack.log_lines(log))
    stack.start_volume(node)
    wanted = {'Starting cinder-volume cluster %s@%s ' % (stack.cluster, name)
              for name in stack.backends}
    services.wait_for('%s consuming its cluster queues' % node, lambda: all(
        any(text in line for line in stack.log_lines(log)[seen:]) for text in wanted),
        180, stack.processes[log])


def test_nothing_left_on_vcenter(stack):
    """``vmdk-volume orphans`` (grace 0) finds nothing Cinder does not own."""
    result = subprocess.run([str(services.BIN / 'vmdk-volume'), 'orphans', '--config-file',
                             str(stack.conf), '--grace-minutes', '0'],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == '0 orphans', result.stdout
