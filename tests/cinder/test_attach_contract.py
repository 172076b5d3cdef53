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

"""What Nova's vmwareapi and os-brick's VMDK connector read from our connection info
(concurrent first attaches: ``test_concurrency``, ``test_active_active``)."""

import os

import pytest
from os_brick.initiator.connectors import vmware as brick_vmware

from tests import vcenter
from tests.cinder.helpers import BRICK_CONNECTOR, NOVA_CONNECTOR, vm_to_attach


@pytest.fixture
def volume(cinder):
    volume = cinder.create_volume('vc1', size_gb=1)
    yield volume
    cinder.managers['vc1'].delete_volume(cinder.context, volume)


def test_nova_gets_the_backing_and_can_find_it_by_volume_id(cinder, volume):
    manager = cinder.managers['vc1']
    instance, _ = vm_to_attach(manager.driver)
    info = manager.initialize_connection(cinder.context, volume,
                                         dict(NOVA_CONNECTOR, instance=instance))
    data = info['data']
    assert {'volume', 'volume_id', 'name', 'profile_id'} <= set(data)
    assert 'config' not in data and 'vmdk_path' not in data

    client = vcenter.of(manager.driver).client
    found = client.call('FindAllByUuid', client.content.searchIndex, uuid=data['volume_id'],
                        vmSearch=True, instanceUuid=True)
    assert [ref.value for ref in found] == [data['volume']]


def test_os_brick_downloads_the_disk_with_what_we_send(cinder, volume, backup_connection):
    data = backup_connection(volume)['data']
    assert data['vmdk_size'] == volume.size * 1024 ** 3
    assert data['vmdk_path'].startswith('[') and data['vmdk_path'].endswith('.vmdk')
    assert data['datacenter'] and data['datastore']

    connector = brick_vmware.VmdkConnector(None)
    device = connector.connect_volume(data)
    assert os.path.exists(device['path'])
    connector.disconnect_volume(data, device)     # unchanged: nothing is uploaded back
    assert not os.path.exists(device['path'])


def test_password_stays_out_of_connection_info_by_default(cinder, volume):
    info = cinder.managers['vc1'].initialize_connection(cinder.context, volume,
                                                        BRICK_CONNECTOR)
    config = info['data']['config']
    assert 'vmware_host_password' not in config
    assert 'secret-vc1' not in repr(info)
