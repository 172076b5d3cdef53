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

"""Session faults the simulator cannot make: expiry mid-call, refused logins, HTTP 503."""

import pytest

from tests.soap import fake
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors
from vmdk_volume.vsphere import session as vsession


def test_expired_session_is_renewed_and_the_call_retried(fake_vc, fake_endpoint):
    session = vsession.connect(fake_endpoint)
    folder = ('<objects><obj type="Folder">group-d1</obj><propSet><name>name</name>'
              '<val xsi:type="xsd:string">Datacenters</val></propSet></objects>')
    fake_vc.script('RetrievePropertiesEx', fake.NOT_AUTHENTICATED, fake.Returns(folder))
    fake_vc.script('SessionIsActive', fake.Returns('false'), fake.Returns('false'))
    fake_vc.calls.clear()

    result = session.invoke_api(session.vim, 'RetrievePropertiesEx',
                                session.vim.service_content.propertyCollector, specSet=[])

    assert result.objects[0].propSet[0].val == 'Datacenters'
    # oslo.vmware asks twice whether the session is active before it logs in again.
    assert fake_vc.calls == ['RetrievePropertiesEx', 'SessionIsActive', 'SessionIsActive',
                             'Login', 'RetrievePropertiesEx']


def test_http_503_is_retried_as_the_call_did_not_run(fake_vc, fake_endpoint):
    client = vclient.Client.connect(fake_endpoint)
    fake_vc.script('CreateVM_Task', fake.UNAVAILABLE, fake.ref('Task', 'task-7'))
    fake_vc.calls.clear()

    task = client.call('CreateVM_Task', client.ref('Folder', 'group-v3'),
                       config=client.create('VirtualMachineConfigSpec', name='volume-1'),
                       pool=client.ref('ResourcePool', 'resgroup-1'))

    assert task.value == 'task-7'
    assert fake_vc.calls == ['CreateVM_Task', 'SessionIsActive', 'CreateVM_Task']


def test_refused_login_is_not_retried_and_names_the_options(fake_vc, fake_endpoint):
    fake_vc.script('Login', fake.Fault('InvalidLogin', 'Cannot complete login due to an '
                                       'incorrect user name or password.'))

    with pytest.raises(errors.AuthenticationFailed, match='vmware_host_password'):
        vsession.connect(fake_endpoint)

    assert fake_vc.calls == ['RetrieveServiceContent', 'Login']
