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

"""Attached volumes, attached by Nova's own code: Cinder's attachment API on the
VolumeManager (served over Cinder's RPC), Nova's ``VMwareVolumeOps`` in a nova-compute child
(``nova_compute``) on a powered-on simulator VM, os-brick's ``VmdkConnector`` as
cinder-backup drives it (fixtures in ``conftest``, helpers in ``nova_attach``)."""

import os

import pytest
from cinder import exception
from os_brick.initiator.connectors import vmware as brick_vmware
from oslo_config import cfg

from tests import vcenter
from tests.cinder.nova_attach import (
    GiB,
    attach,
    datastore_of,
    detach,
    disks,
    extra_config,
    instances,
    storage_vmotion,
    volume_disk,
)
from vmdk_volume.core import placement


def test_nova_attaches_and_detaches_through_the_attachment_api(cinder, api, nova,
                                                               service_context, client):
    volume = cinder.create_volume('vc1')
    instance = instances(client)[0]
    attached = attach(api, nova, service_context, volume, instance)

    disk = volume_disk(client, instance.ref, volume.id)
    backing_disk = disks(client, attached.backing)[0]
    assert disk is not None, 'the instance has no disk with the volume id as its uuid'
    assert disk.backing.fileName == backing_disk.backing.fileName
    assert disk.capacityInKB == volume.size * GiB // 1024
    assert extra_config(client, instance.ref)['volume-%s' % volume.id] == disk.backing.uuid
    assert volume.status == 'in-use'

    detach(api, nova, service_context, volume, attached)
    assert volume_disk(client, instance.ref, volume.id) is None
    assert 'volume-%s' % volume.id not in extra_config(client, instance.ref)
    assert (volume.status, volume.attach_status) == ('available', 'detached')
    assert disks(client, attached.backing)[0].backing.fileName == backing_disk.backing.fileName
    cinder.managers['vc1'].delete_volume(cinder.context, volume)


def test_extend_finds_the_instance_disk_by_its_uuid_after_storage_vmotion(
        cinder, api, nova, service_context, client, vcenters):
    manager = cinder.managers['vc1']
    volume = cinder.create_volume('vc1')
    instance = instances(client)[0]
    attached = attach(api, nova, service_context, volume, instance)
    moved = storage_vmotion(client, vcenter.of(manager.driver).inventory(), instance, volume)

    volume.update({'status': 'extending', 'previous_status': 'in-use'})
    volume.save()
    vcenters['vc1'].reset_stats()
    # Cinder then tells Nova's API (volume-extended); none here: it records that it could not
    cfg.CONF.set_override('token_auth_url', 'http://127.0.0.1:9/identity', group='nova')
    try:
        manager.extend_volume(cinder.context, volume, 2, None)
    finally:
        cfg.CONF.clear_override('token_auth_url', group='nova')
    calls = vcenters['vc1'].stats().calls
    volume.refresh()
    assert (volume.status, volume.size) == ('in-use', 2)
    assert volume_disk(client, instance.ref, volume.id).capacityInKB == 2 * GiB // 1024
    assert calls['ReconfigVM_Task'] == 1 and 'ExtendVirtualDisk_Task' not in calls

    detach(api, nova, service_context, volume, attached)     # Nova consolidates the backing
    assert disks(client, attached.backing)[0].backing.fileName == moved.backing.fileName
    assert volume_disk(client, instance.ref, volume.id) is None
    manager.delete_volume(cinder.context, volume)


def test_a_second_instance_whose_host_lacks_the_datastore_is_refused_without_moving_it(
        cinder, api, nova, service_context, client, vcenters):
    manager, vc = cinder.managers['vc1'], vcenters['vc1']
    volume = cinder.create_volume('vc1')
    first = instances(client)[0]
    second = next(i for i in instances(client) if i.host != first.host)
    attached = attach(api, nova, service_context, volume, first)
    disk = disks(client, attached.backing)[0]
    _, name = datastore_of(client, disk)
    vc.change_datastore(name, unmount_from=(second.host_name,))
    try:
        vc.reset_stats()
        with pytest.raises(exception.VolumeBackendAPIException,
                           match='in use by %s on datastore %s.*cannot move' % (first.ref, name)):
            manager.initialize_connection(cinder.context, volume, nova.connector(second.uuid))
        calls = vc.stats().calls
    finally:
        vc.change_datastore(name, mount_on=(second.host_name,))
    assert 'RelocateVM_Task' not in calls and 'ReconfigVM_Task' not in calls, calls
    assert disks(client, attached.backing)[0].backing.fileName == disk.backing.fileName
    assert volume_disk(client, first.ref, volume.id).backing.fileName == disk.backing.fileName
    detach(api, nova, service_context, volume, attached)
    manager.delete_volume(cinder.context, volume)


def test_a_new_backing_is_never_placed_on_a_datastore_just_unmounted_from_the_host(
        cinder, api, nova, service_context, client, vcenters):
    manager, vc = cinder.managers['vc1'], vcenters['vc1']
    instance = instances(client)[0]
    inventory = vcenter.of(manager.driver).inventory(refresh=True)   # as vCenter has it now
    usable = [s for s in inventory.datastores.values() if instance.host in s.usable_hosts()]
    chosen = placement.select(inventory, placement.PlacementRequest(
        size_bytes=GiB, hosts=frozenset([instance.host])))
    kept = next(s for s in usable if s.ref != chosen.datastore.ref)
    unmounted = [s.name for s in usable if s is not kept]     # placement's choice with them
    for name in unmounted:
        vc.change_datastore(name, unmount_from=(instance.host_name,))
    volume = cinder.create_volume('vc1')
    try:
        attachment = api.attachment_create(service_context, volume, instance.uuid)
        connector = nova.connector(instance.uuid)
        vc.reset_stats()
        attachment = api.attachment_update(service_context, attachment, connector)
        calls = vc.stats().calls
    finally:
        for name in unmounted:
            vc.change_datastore(name, mount_on=(instance.host_name,))
    backing = attachment.connection_info['volume']
    assert datastore_of(client, disks(client, backing)[0]) == (kept.ref, kept.name)
    assert calls['CreateVM_Task'] == 1
    assert calls['RetrievePropertiesEx'] == 1      # the host (mounts: the inventory's watch)
    api.attachment_delete(service_context, attachment)
    manager.delete_volume(cinder.context, volume)


def test_after_nova_consolidates_a_moved_disk_os_brick_reads_the_backing(
        cinder, api, nova, service_context, client, backup_connection):
    """cinder-backup's way (os-brick's VmdkConnector with the driver's credentials) reads
    the volume Nova detached after the instance's storage vMotion."""
    manager = cinder.managers['vc1']
    volume = cinder.create_volume('vc1')
    instance = instances(client)[0]
    attached = attach(api, nova, service_context, volume, instance)
    moved = storage_vmotion(client, vcenter.of(manager.driver).inventory(), instance, volume)
    detach(api, nova, service_context, volume, attached)
    info = backup_connection(volume)
    assert info['data']['vmdk_path'] == moved.backing.fileName
    connector = brick_vmware.VmdkConnector(None)
    device = connector.connect_volume(info['data'])
    assert os.path.getsize(device['path']) > 0
    connector.disconnect_volume(info['data'], device)
    assert not os.path.exists(device['path'])
    manager.delete_volume(cinder.context, volume)


def test_nova_finds_its_cluster_and_datacenter_by_recursive_traversal(cinder, nova):
    """Nova's start and spawn read the inventory with oslo.vmware's get_objects."""
    inventory = vcenter.of(cinder.managers['vc1'].driver).inventory()
    cluster = next(c for c in inventory.compute_resources.values() if c.is_cluster)
    datastore = next(iter(inventory.datastores.values()))
    found = nova.find_cluster_and_datacenter(cluster.name, datastore.ref)
    datacenter = inventory.datacenters[datastore.datacenter]
    assert found == {'cluster': cluster.ref, 'datacenter': datacenter.ref,
                     'datacenter_name': datacenter.name}
