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

"""The vim25 WSDL generated from pyVmomi's metadata, as suds and oslo.vmware use it."""

import concurrent.futures
import pathlib
import xml.etree.ElementTree as ET

import pytest
import suds.client
from suds.transport import Reply, Transport
from vmdk_volume_simkit import wsdl

LOCATION = 'https://127.0.0.1:1/sdk'
VIM25 = '{urn:vim25}'
XSI_TYPE = '{http://www.w3.org/2001/XMLSchema-instance}type'
WSDL_NS = {'wsdl': 'http://schemas.xmlsoap.org/wsdl/',
           'soap': 'http://schemas.xmlsoap.org/wsdl/soap/',
           'xsd': 'http://www.w3.org/2001/XMLSchema'}
ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
            ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>')


@pytest.fixture(scope='module')
def wsdl_path(tmp_path_factory) -> pathlib.Path:
    return wsdl.generate(tmp_path_factory.mktemp('wsdl'))


@pytest.fixture(scope='module')
def client(wsdl_path) -> suds.client.Client:
    """A suds client that builds requests without sending them."""
    client = suds.client.Client(wsdl_path.as_uri(), cache=None, location=LOCATION)
    client.options.nosend = True
    return client


def moref(client, type_, value):
    ref = client.factory.create('ns0:ManagedObjectReference')
    ref._type, ref.value = type_, value
    return ref


def new(client, type_name, **values):
    obj = client.factory.create('ns0:' + type_name)
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


def reply(client, method, body, **params):
    """What the client makes of SOAP reply `body` to `method`."""
    context = getattr(client.service, method)(**params)
    return context.process_reply((ENVELOPE % body).encode())


def test_suds_client_builds_with_vim25_as_ns0(client):
    assert client.sd[0].prefixes == [('ns0', 'urn:vim25')]
    for type_name in ('VirtualMachineConfigSpec', 'PropertyFilterSpec',
                      'ManagedObjectReference', 'VirtualDiskFlatVer2BackingInfo'):
        assert client.factory.create('ns0:' + type_name).__class__.__name__ == type_name


def test_service_has_the_methods_we_call(client):
    methods = {method for method, _ in client.sd[0].ports[0][1]}
    assert methods >= {
        'RetrieveServiceContent', 'Login', 'RetrievePropertiesEx', 'WaitForUpdatesEx',
        'CreateVM_Task', 'ReconfigVM_Task', 'CloneVM_Task', 'Destroy_Task',
        'ExtendVirtualDisk_Task', 'FindAllByUuid', 'ImportVApp', 'ExportVm',
        'HttpNfcLeaseComplete'}


def test_operations_advertise_the_target_version_only(wsdl_path):
    root = ET.parse(wsdl_path).getroot()
    actions = {op.get('soapAction') for op in root.iterfind('.//soap:operation', WSDL_NS)}
    assert actions == {'urn:vim25/7.0.3.0'}


def test_request_and_response_shapes(wsdl_path):
    schema = ET.parse(wsdl_path).getroot().find('wsdl:types/xsd:schema', WSDL_NS)
    elements = {element.get('name'): element for element in schema.iterfind('xsd:element',
                                                                             WSDL_NS)}
    assert elements['CreateVM_Task'].get('type') == 'vim25:CreateVMRequestType'
    assert elements['Logout'].get('type') == 'vim25:LogoutRequestType'
    assert list(elements['LogoutResponse'].find('xsd:complexType', WSDL_NS)) == []
    assert elements['FileNotFoundFault'].get('type') == 'vim25:FileNotFound'


def create_vm_config(client):
    controller = new(client, 'VirtualLsiLogicController', key=-100, busNumber=0,
                     sharedBus='noSharing')
    backing = new(client, 'VirtualDiskFlatVer2BackingInfo', fileName='',
                  diskMode='persistent', thinProvisioned=True)
    disk = new(client, 'VirtualDisk', key=-101, controllerKey=-100, unitNumber=0,
               capacityInKB=1024, backing=backing)
    changes = [new(client, 'VirtualDeviceConfigSpec', operation='add', device=controller),
               new(client, 'VirtualDeviceConfigSpec', operation='add',
                   fileOperation='create', device=disk)]
    return new(client, 'VirtualMachineConfigSpec', name='volume-1', guestId='otherGuest',
               files=new(client, 'VirtualMachineFileInfo', vmPathName='[ds1]'),
               deviceChange=changes,
               extraConfig=[new(client, 'OptionValue', key='cinder.volume.id', value='v1')])


def test_create_vm_request_stamps_subtypes_in_schema_order(client):
    context = client.service.CreateVM_Task(_this=moref(client, 'Folder', 'group-v3'),
                                           config=create_vm_config(client),
                                           pool=moref(client, 'ResourcePool', 'resgroup-8'))
    body = ET.fromstring(context.envelope)[1]
    request = body.find(VIM25 + 'CreateVM_Task')
    assert [child.tag.removeprefix(VIM25) for child in request] == ['_this', 'config', 'pool']
    assert request.find(VIM25 + '_this').attrib == {'type': 'Folder'}
    config = request.find(VIM25 + 'config')
    assert [child.tag.removeprefix(VIM25) for child in config] == [
        'name', 'guestId', 'files', 'deviceChange', 'deviceChange', 'extraConfig']
    controller, disk = (change.find(VIM25 + 'device') for change in config[3:5])
    assert controller.get(XSI_TYPE).endswith(':VirtualLsiLogicController')
    assert disk.get(XSI_TYPE).endswith(':VirtualDisk')
    assert [child.tag.removeprefix(VIM25) for child in disk] == [
        'key', 'backing', 'controllerKey', 'unitNumber', 'capacityInKB']
    backing = disk.find(VIM25 + 'backing')
    assert backing.get(XSI_TYPE).endswith(':VirtualDiskFlatVer2BackingInfo')
    assert [child.tag.removeprefix(VIM25) for child in backing] == [
        'fileName', 'diskMode', 'thinProvisioned']


def retrieve_properties_reply(client, val_xml):
    spec = new(client, 'PropertyFilterSpec',
               propSet=[new(client, 'PropertySpec', type='Folder', pathSet=['x'])],
               objectSet=[new(client, 'ObjectSpec', obj=moref(client, 'Folder', 'group-v3'))])
    body = ('<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects>'
            f'<obj type="Folder">group-v3</obj><propSet><name>x</name>{val_xml}</propSet>'
            '</objects></returnval></RetrievePropertiesExResponse>')
    result = reply(client, 'RetrievePropertiesEx', body,
                   _this=moref(client, 'PropertyCollector', 'propertyCollector'),
                   specSet=[spec], options=new(client, 'RetrieveOptions'))
    return result.objects[0].propSet[0].val


def test_one_element_array_reply_stays_a_list(client):
    val = retrieve_properties_reply(
        client, '<val xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference '
                'type="VirtualMachine">vm-1</ManagedObjectReference></val>')
    assert isinstance(val.ManagedObjectReference, list)
    assert [(ref._type, ref.value) for ref in val.ManagedObjectReference] == [
        ('VirtualMachine', 'vm-1')]


def test_task_error_reply_is_a_localized_method_fault(client):
    info = retrieve_properties_reply(
        client, '<val xsi:type="TaskInfo"><key>task-1</key><task type="Task">task-1</task>'
                '<state>error</state><cancelled>false</cancelled><cancelable>false</cancelable>'
                '<error><fault xsi:type="FileNotFound"><file>[ds1] a.vmdk</file></fault>'
                '<localizedMessage>File not found</localizedMessage></error></val>')
    assert info.error.__class__.__name__ == 'LocalizedMethodFault'
    assert info.error.fault.__class__.__name__ == 'FileNotFound'
    assert info.error.fault.file == '[ds1] a.vmdk'


def test_oslo_vmware_reads_the_service_content(wsdl_path):
    from oslo_vmware import vim  # vim.Vim is the oslo_vmware.service.Service of vim25

    class Recording(Transport):
        def __init__(self):
            super().__init__()
            self.sent = []

        def send(self, request):
            self.sent.append(request.message)
            return Reply(200, {}, (ENVELOPE % (
                '<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>'
                '<rootFolder type="Folder">group-d1</rootFolder>'
                '<propertyCollector type="PropertyCollector">propertyCollector'
                '</propertyCollector></returnval></RetrieveServiceContentResponse>')).encode())

    client = vim.Vim(protocol='https', host='127.0.0.1', port=1, wsdl_url=wsdl_path.as_uri())
    recording = client.client.options.transport = Recording()
    assert client.client.factory.create('ns0:ManagedObjectReference') is not None
    content = client.service_content
    assert (content.rootFolder._type, content.rootFolder.value) == ('Folder', 'group-d1')
    this = ET.fromstring(recording.sent[0]).find(f'.//{VIM25}RetrieveServiceContent/{VIM25}_this')
    assert (this.get('type'), this.text) == ('ServiceInstance', 'ServiceInstance')


def test_unknown_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match='unknown vSphere API version'):
        wsdl.generate(tmp_path, version='1.2.3')


def test_ensure_generates_once_even_when_racing(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first, second = pool.map(wsdl.ensure, [tmp_path, tmp_path])
    assert first == second and first.parent == tmp_path
    assert first.name.startswith(wsdl.DEFAULT_VERSION + '-')
    generated = (first / wsdl.WSDL_NAME).stat()
    assert wsdl.ensure(tmp_path) == first
    assert (first / wsdl.WSDL_NAME).stat().st_mtime_ns == generated.st_mtime_ns
    assert [path.name for path in tmp_path.iterdir()] == [first.name]  # no leftovers
