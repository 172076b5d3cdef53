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

"""glance_store's vsphere:// locations, as clone_image receives them from Cinder."""

import pytest

from vmdk_volume.core.images import located

URL = ('vsphere://vc.example.com/folder/openstack_glance/7f3c?dcPath=Site%2FDC1'
       '&dsName=ds%20one')


def test_a_vsphere_location_names_the_file_on_its_datastore():
    found = located.DatastoreFile.parse(URL)
    assert found == located.DatastoreFile('vc.example.com', 'Site/DC1', 'ds one',
                                          'openstack_glance/7f3c')
    assert found.datacenter_name == 'DC1'
    assert found.datastore_path == '[ds one] openstack_glance/7f3c'
    assert found.http_url(443) == ('https://vc.example.com:443/folder/openstack_glance/7f3c'
                                   '?dcPath=Site%2FDC1&dsName=ds+one')


@pytest.mark.parametrize('url', [
    'rbd://fsid/images/7f3c/snap', 'file:///var/lib/glance/images/7f3c',
    'vsphere://vc.example.com/folder/x?dsName=ds1',           # no datacenter
    'vsphere://vc.example.com/folder/x?dcPath=DC1',           # no datastore
    'vsphere://vc.example.com/elsewhere/x?dcPath=DC1&dsName=ds1'])
def test_other_locations_are_not_datastore_files(url):
    assert located.DatastoreFile.parse(url) is None


@pytest.mark.parametrize('image_location, urls', [
    (None, []),
    ((None, None), []),
    (('rbd://a', [{'url': 'rbd://a', 'metadata': {}}, {'url': URL, 'metadata': {}}]),
     ['rbd://a', 'rbd://a', URL]),
    ((None, [{'url': URL, 'metadata': {'store': 'vmware'}}]), [URL]),
])
def test_cinder_image_location_gives_its_urls(image_location, urls):
    assert located.locations_of(image_location) == urls
