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


"""The private internals of oslo.vmware and suds that ``vsphere.internals`` gathers still
exist and still do what the driver relies on them for (see that module)."""

import inspect

from oslo_vmware import api, pbm, service
from oslo_vmware import exceptions as vexc

from vmdk_volume.vsphere import errors, internals


def test_oslo_logs_in_again_through_the_method_the_session_overrides():
    assert callable(api.VMwareAPISession._create_session.__wrapped__)
    assert 'self._create_session()' in inspect.getsource(api.VMwareAPISession.invoke_api)


def test_a_session_not_logged_in_has_no_key_and_no_vim():
    session = api.VMwareAPISession('127.0.0.1', 'user', 'secret', 1, 0.1,
                                   create_session=False)
    assert internals.session_id(session) is None
    assert internals.has_vim(session) is False


def test_the_transport_bounds_its_requests_by_the_timeout_set():
    transport = service.RequestsTransport(connection_timeout=5)
    internals.set_socket_timeout(transport, 7)
    assert vars(transport)['_connection_timeout'] == 7
    assert 'timeout=self._connection_timeout' in inspect.getsource(transport.send)


def test_fault_classes_name_the_faults_errors_maps():
    classes = internals.fault_classes()
    assert classes['FileNotFound'] is vexc.FileNotFoundException
    assert classes['DuplicateName'] is vexc.DuplicateName
    assert errors.from_oslo(vexc.DuplicateName('taken')).name == 'DuplicateName'


def test_each_binding_of_a_service_keeps_a_multiref():
    wsdl = pbm.get_pbm_wsdl_location('6.5')
    bindings = list(internals.bindings(pbm.Pbm(wsdl_url=wsdl)))
    assert bindings
    assert all(isinstance(b.multiref, internals.MultiRef) for b in bindings)
    assert callable(internals.MultiRef().process)
