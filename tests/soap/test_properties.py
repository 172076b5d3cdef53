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

"""Property reads follow ContinueRetrievePropertiesEx pages (the simulator never pages)."""

from tests.soap import fake
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import properties


def _host(value, name):
    return ('<objects><obj type="HostSystem">%s</obj><propSet><name>name</name>'
            '<val xsi:type="xsd:string">%s</val></propSet></objects>' % (value, name))


def test_collect_reads_every_page(fake_vc, fake_endpoint):
    client = vclient.Client.connect(fake_endpoint)
    fake_vc.script('RetrievePropertiesEx',
                   fake.Returns('<token>page-2</token>' + _host('host-1', 'esx-1')))
    fake_vc.script('ContinueRetrievePropertiesEx',
                   fake.Returns('<token>page-3</token>' + _host('host-2', 'esx-2')),
                   fake.Returns(_host('host-3', 'esx-3')))
    fake_vc.calls.clear()

    items = properties.collect(client, client.ref('ContainerView', 'session[1]view-1'),
                               {'HostSystem': ['name']})

    assert [(i.value, i.get('name')) for i in items] == [
        ('host-1', 'esx-1'), ('host-2', 'esx-2'), ('host-3', 'esx-3')]
    assert fake_vc.calls == ['RetrievePropertiesEx', 'ContinueRetrievePropertiesEx',
                             'ContinueRetrievePropertiesEx']
