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

"""Text users type reaches vCenter as valid XML and stays recognisable: snapshot
descriptions and project ids with control characters, unicode, XML metacharacters and
more than 255 characters, through Cinder's VolumeManager."""

from cinder import objects

from tests import vcenter
from tests.cinder.helpers import NOVA_CONNECTOR, read_backing, vm_to_attach
from vmdk_volume.vsphere import properties

ODD = 'nightly\x07 backup\x00 <b>R&D</b> "ünïcødé" \'日本語\' \U0001f600 '
LONG = ODD + 'x' * 260
LONG_SENT = LONG.replace('\x07', '\\x07').replace('\x00', '\\x00')


def _attach(cinder, backend, volume):
    manager = cinder.managers[backend]
    connector = dict(NOVA_CONNECTOR, instance=vm_to_attach(manager.driver)[0])
    manager.initialize_connection(cinder.context, volume, connector)
    volume.refresh()


def test_cow_snapshot_description_with_control_characters_is_taken(cinder):
    volume = cinder.create_volume('vc2')
    _attach(cinder, 'vc2', volume)
    snapshot = objects.Snapshot(context=cinder.context, volume_id=volume.id,
                                volume_size=volume.size, status='creating',
                                project_id=volume.project_id, user_id=volume.user_id,
                                display_description=LONG)
    snapshot.create()
    cinder.managers['vc2'].create_snapshot(cinder.context, snapshot)
    snapshot.refresh()
    assert snapshot.status == 'available'
    driver = cinder.managers['vc2'].driver
    client = vcenter.of(driver).client
    info = properties.fetch_one(client, client.ref('VirtualMachine', volume.provider_location),
                                ['snapshot'])['snapshot']
    [tree] = [t for t in properties.snapshot_trees(info) if t.name == snapshot.name]
    assert tree.description == LONG_SENT
    cinder.managers['vc2'].delete_snapshot(cinder.context, snapshot)


def _project_folder(driver, volume_id) -> str:
    client = vcenter.of(driver).client
    volumes = read_backing(driver, volume_id)['parent']
    project = properties.fetch_one(client, volumes, ['parent'])['parent']
    return properties.fetch_one(client, project, ['name'])['name']


def test_first_attach_in_a_project_whose_id_has_control_characters(cinder):
    project = 'tenant\x01\x1f' + 'ü' * 250
    first, second = (cinder.create_volume('vc1', project_id=project) for _ in range(2))
    for volume in (first, second):
        _attach(cinder, 'vc1', volume)
    driver = cinder.managers['vc1'].driver
    folders = {_project_folder(driver, v.id) for v in (first, second)}
    assert folders == {'Project (tenant\\x01\\x1f%s)' % ('ü' * 250)}
    for volume in (first, second):
        cinder.managers['vc1'].delete_volume(cinder.context, volume)
