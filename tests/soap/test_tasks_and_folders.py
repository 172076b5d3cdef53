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

"""Faults around tasks, folders and leases that the simulator cannot make, on a scripted
vCenter."""

import pytest

from tests.soap import fake
from vmdk_volume.core import folders
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, leases
from vmdk_volume.vsphere.inventory import Datacenter

DATACENTER = Datacenter('datacenter-2', 'DC0', 'group-v3')
SUCCESS = fake.task_update(
    ('info.state', '<val xsi:type="TaskInfoState">success</val>'),
    ('info.result', '<val xsi:type="ManagedObjectReference" type="VirtualMachine">vm-42</val>'))
NO_SPACE = fake.task_update(
    ('info.state', '<val xsi:type="TaskInfoState">error</val>'),
    ('info.error', '<val xsi:type="LocalizedMethodFault"><fault xsi:type="NoDiskSpace">'
                   '<datastore>ds-1</datastore></fault><localizedMessage>Insufficient disk '
                   'space on datastore ds-1.</localizedMessage></val>'))


@pytest.fixture
def client(fake_vc, fake_endpoint):
    fake_vc.script('CreatePropertyCollector', fake.ref('PropertyCollector', 'collector-2'))
    return vclient.Client.connect(fake_endpoint)


def _create_vm(client):
    return client.run('CreateVM_Task', client.ref('Folder', 'group-v3'),
                      config=client.create('VirtualMachineConfigSpec', name='volume-1'),
                      pool=client.ref('ResourcePool', 'resgroup-1'))


def test_session_expiring_during_create_vm_is_renewed_and_the_task_awaited(fake_vc, client):
    fake_vc.script('CreateVM_Task', fake.NOT_AUTHENTICATED,
                   fake.ref('Task', 'task-7'))
    fake_vc.script('SessionIsActive', fake.Returns('false'), fake.Returns('false'))
    fake_vc.script('WaitForUpdatesEx', SUCCESS)
    fake_vc.calls.clear()

    vm = _create_vm(client)

    assert vm.value == 'vm-42'
    assert fake_vc.calls == ['CreateVM_Task', 'SessionIsActive', 'SessionIsActive', 'Login',
                             'CreateVM_Task', 'CreatePropertyCollector', 'CreateFilter',
                             'WaitForUpdatesEx']


def test_task_error_is_raised_as_our_fault_after_one_wait(fake_vc, client):
    fake_vc.script('CreateVM_Task', fake.ref('Task', 'task-7'))
    fake_vc.script('WaitForUpdatesEx', NO_SPACE)

    with pytest.raises(errors.NoDiskSpace, match='Insufficient disk space'):
        _create_vm(client)
    assert fake_vc.calls.count('WaitForUpdatesEx') == 1


def test_folder_created_concurrently_is_found_after_duplicate_name(fake_vc, client):
    fake_vc.script('FindChild', fake.Returns(), fake.ref('Folder', 'group-v9'))
    fake_vc.script('CreateFolder', fake.Fault(
        'DuplicateName', "The name 'OpenStack' already exists.",
        '<name>OpenStack</name><object type="Folder">group-v3</object>'))
    fake_vc.calls.clear()

    ref = folders.Folders(client).ensure(DATACENTER, ('OpenStack',))

    assert ref == 'group-v9'
    assert fake_vc.calls == ['FindChild', 'CreateFolder', 'FindChild']


def test_lease_refused_completion_is_a_lease_failure_with_its_error(fake_vc, client):
    fake_vc.script('HttpNfcLeaseComplete', fake.Fault(
        'InvalidState', 'The operation is not allowed in the current state.'))
    fake_vc.script('RetrievePropertiesEx', fake.Returns(
        '<objects><obj type="HttpNfcLease">lease-3</obj>'
        '<propSet><name>state</name><val xsi:type="HttpNfcLeaseState">error</val></propSet>'
        '<propSet><name>error</name><val xsi:type="LocalizedMethodFault"><fault '
        'xsi:type="Timedout"></fault><localizedMessage>The lease timed out.'
        '</localizedMessage></val></propSet></objects>'))
    fake_vc.calls.clear()

    with pytest.raises(leases.LeaseFailed, match='lease-3 is error, not ready: .*timed out'):
        leases.Lease(client, client.ref('HttpNfcLease', 'lease-3')).complete()
    assert fake_vc.calls == ['HttpNfcLeaseComplete', 'RetrievePropertiesEx']
