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

"""Answers lost on the way back, which the simulator cannot lose: a call that makes a VM or a
snapshot is not repeated blindly, and what the lost call made is taken, not duplicated; and
a task's moref that a restarted vCenter gives again is not mistaken for the old task."""

import pytest

from tests.soap import fake
from vmdk_volume.core import backings, volume_type
from vmdk_volume.core.placement import Placement
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors
from vmdk_volume.vsphere.inventory import Datacenter, Datastore, Host

VOLUME_ID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0'
NAME = 'volume-' + VOLUME_ID


def _duplicate_name(holder: str) -> fake.Returns:
    """A task update: the task failed, vCenter refusing the name ``holder`` holds."""
    return fake.task_update(
        ('info.state', '<val xsi:type="TaskInfoState">error</val>'),
        ('info.error', '<val xsi:type="LocalizedMethodFault"><fault xsi:type="DuplicateName">'
                       '<name>%s</name><object type="VirtualMachine">%s</object></fault>'
                       '<localizedMessage>The name \'%s\' already exists.</localizedMessage>'
                       '</val>' % (NAME, holder, NAME)))


def _marked(vm: str, volume_id: str) -> fake.Returns:
    """A property read: ``vm``'s extraConfig carries ``volume_id``."""
    return fake.Returns(
        '<objects><obj type="VirtualMachine">%s</obj><propSet><name>config.extraConfig</name>'
        '<val xsi:type="ArrayOfOptionValue"><OptionValue xsi:type="OptionValue">'
        '<key>cinder.volume.id</key><value xsi:type="xsd:string">%s</value></OptionValue>'
        '</val></propSet></objects>' % (vm, volume_id))


@pytest.fixture
def client(fake_vc, fake_endpoint):
    fake_vc.script('CreatePropertyCollector', fake.ref('PropertyCollector', 'collector-2'),
                   fake.ref('PropertyCollector', 'collector-3'))
    return vclient.Client.connect(fake_endpoint)


def _create_backing(client) -> str:
    request = backings.BackingRequest(volume_id=VOLUME_ID, name=NAME, size_bytes=1024 ** 3,
                                      profile=volume_type.parse({}))
    where = Placement(datacenter=Datacenter('datacenter-2', 'dc', 'group-v3'),
                      host=Host('host-1', 'esx1', 'domain-c7'), resource_pool='resgroup-1',
                      datastore=Datastore('datastore-1', 'ds1', 'VMFS', 2 ** 40, 2 ** 40))
    return backings.Backings(client, lambda datastore: 'datacenter-2').create_at(
        request, where, 'group-v3')


def test_lost_answer_to_create_vm_is_not_repeated_by_the_transport(fake_vc, client):
    fake_vc.script('CreateVM_Task', fake.LOST)
    fake_vc.calls.clear()

    with pytest.raises(errors.ReplyLost, match='answer to CreateVM_Task was lost'):
        client.run('CreateVM_Task', client.ref('Folder', 'group-v3'),
                   config=client.create('VirtualMachineConfigSpec', name=NAME),
                   pool=client.ref('ResourcePool', 'resgroup-1'))
    assert fake_vc.calls == ['CreateVM_Task']


def test_backing_made_by_the_call_whose_answer_was_lost_is_taken(fake_vc, client):
    fake_vc.script('CreateVM_Task', fake.LOST, fake.ref('Task', 'task-7'))
    fake_vc.script('WaitForUpdatesEx', _duplicate_name('vm-41'))
    fake_vc.script('RetrievePropertiesEx', _marked('vm-41', VOLUME_ID))
    fake_vc.calls.clear()

    assert _create_backing(client) == 'vm-41'
    assert fake_vc.calls == ['CreateVM_Task', 'CreateVM_Task', 'CreatePropertyCollector',
                             'CreateFilter', 'WaitForUpdatesEx', 'RetrievePropertiesEx']


def test_a_vm_of_the_name_that_is_not_the_volumes_is_refused(fake_vc, client):
    fake_vc.script('CreateVM_Task', fake.LOST, fake.ref('Task', 'task-7'))
    fake_vc.script('WaitForUpdatesEx', _duplicate_name('vm-41'))
    fake_vc.script('RetrievePropertiesEx', _marked('vm-41', 'another-volume'))

    with pytest.raises(errors.AlreadyExists, match='already exists'):
        _create_backing(client)


def _tasks_update(*results: tuple[str, str]) -> fake.Returns:
    """A task update: each (task, VM) succeeded with that VM."""
    return fake.Returns('<version>1</version><filterSet><filter type="PropertyFilter">filter-1'
                        '</filter>%s</filterSet>' % ''.join(
                            '<objectSet><kind>enter</kind><obj type="Task">%s</obj>'
                            '<changeSet><name>info.state</name><op>assign</op>'
                            '<val xsi:type="TaskInfoState">success</val></changeSet>'
                            '<changeSet><name>info.result</name><op>assign</op>'
                            '<val xsi:type="ManagedObjectReference" type="VirtualMachine">%s'
                            '</val></changeSet></objectSet>' % result for result in results))


def test_task_moref_given_again_after_a_restart_is_not_the_old_task(fake_vc, client):
    folder = client.ref('Folder', 'group-v3')
    config = client.create('VirtualMachineConfigSpec', name=NAME)
    pool = client.ref('ResourcePool', 'resgroup-1')
    # Our task-6 ends, reported with someone else's task-7 (the recent tasks are watched).
    fake_vc.script('CreateVM_Task', fake.ref('Task', 'task-6'))
    fake_vc.script('WaitForUpdatesEx', _tasks_update(('task-6', 'vm-41'), ('task-7', 'vm-42')))
    assert client.run('CreateVM_Task', folder, config=config, pool=pool).value == 'vm-41'

    # vCenter restarts: the session is gone, and our next task is task-7 again.
    fake_vc.script('CreateVM_Task', fake.NOT_AUTHENTICATED, fake.ref('Task', 'task-7'))
    fake_vc.script('SessionIsActive', fake.Returns('false'), fake.Returns('false'))
    fake_vc.script('Login', fake.Returns(fake.USER_SESSION.replace('52b0', '77c1')))
    fake_vc.script('WaitForUpdatesEx', _tasks_update(('task-7', 'vm-9')))
    fake_vc.calls.clear()

    assert client.run('CreateVM_Task', folder, config=config, pool=pool).value == 'vm-9'
    assert fake_vc.calls[-3:] == ['CreatePropertyCollector', 'CreateFilter',
                                  'WaitForUpdatesEx']
