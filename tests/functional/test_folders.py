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

"""The volume-folder manager against the simulator: create once, reuse, recover."""

import concurrent.futures
import dataclasses
import uuid

import pytest

from vmdk_volume.core import folders, locks
from vmdk_volume.vsphere import errors, properties


@pytest.fixture
def datacenter(sim_inventory):
    return next(iter(sim_inventory.datacenters.values()))


def _path(vsphere, ref):
    names = []
    while True:
        props = properties.fetch_one(vsphere, vsphere.ref('Folder', ref), ['name', 'parent'])
        if props['parent']._type != 'Folder':
            return '/'.join(reversed(names))
        names.append(props['name'])
        ref = props['parent'].value


def test_hierarchy_is_created_once_then_cached(vsphere, datacenter, simulator, soap_calls):
    folders.Folders(vsphere).ensure(datacenter, (folders.ROOT_FOLDER,))
    manager = folders.Folders(vsphere)
    project = uuid.uuid4().hex
    path = folders.volume_folder_path(project, 'Volumes')
    simulator.reset_stats()

    ref = manager.ensure(datacenter, path)
    cold = soap_calls().calls
    simulator.reset_stats()
    warm = manager.ensure(datacenter, path)

    assert warm == ref
    assert soap_calls().total == 0
    # the path looked up whole, then OpenStack found, the rest created without looking
    assert cold == {'FindByInventoryPath': 1, 'FindChild': 2, 'CreateFolder': 2}
    assert _path(vsphere, ref) == 'OpenStack/Project (%s)/Volumes' % project


@pytest.mark.parametrize('project, volume_folder', [
    (uuid.uuid4().hex, 'Volumes'),
    ('p/%s%%2f' % uuid.uuid4().hex[:8], 'cinder/50%/vols'),  # '/' and '%' in names
])
def test_an_existing_path_is_found_in_one_call(vsphere, datacenter, simulator, soap_calls,
                                               project, volume_folder):
    path = folders.volume_folder_path(project, volume_folder)
    ref = folders.Folders(vsphere).ensure(datacenter, path)
    simulator.reset_stats()

    assert folders.Folders(vsphere).ensure(datacenter, path) == ref    # a driver just started
    assert soap_calls().calls == {'FindByInventoryPath': 1}


def test_a_datacenter_not_found_at_its_name_has_its_folders_walked(vsphere, datacenter,
                                                                   simulator, soap_calls):
    """As for a datacenter in a folder: ``<name>/vm/...`` names nothing in the root folder."""
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    ref = folders.Folders(vsphere).ensure(datacenter, path)
    simulator.reset_stats()

    nested = dataclasses.replace(datacenter, name='Europe%2fno such datacenter')
    assert folders.Folders(vsphere).ensure(nested, path) == ref
    assert soap_calls().calls == {'FindByInventoryPath': 1, 'FindChild': 3}


def test_one_level_below_a_cached_path_is_looked_for_by_itself(vsphere, datacenter, simulator,
                                                                soap_calls):
    manager = folders.Folders(vsphere)
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    manager.ensure(datacenter, path)
    simulator.reset_stats()

    snapshots = manager.ensure(datacenter, path + ('Snapshots',))

    assert soap_calls().calls == {'FindChild': 1, 'CreateFolder': 1}
    assert _path(vsphere, snapshots).endswith('/Volumes/Snapshots')


def test_existing_folders_are_found_not_duplicated(vsphere, datacenter):
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    first = folders.Folders(vsphere).ensure(datacenter, path)
    assert folders.Folders(vsphere).ensure(datacenter, path) == first


def test_a_folder_deleted_out_of_band_is_recreated_after_forget(vsphere, datacenter):
    manager = folders.Folders(vsphere)
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    ref = manager.ensure(datacenter, path)
    vsphere.run('Destroy_Task', vsphere.ref('Folder', ref))

    manager.forget(datacenter.vm_folder)
    again = manager.ensure(datacenter, path)

    assert again != ref
    assert properties.fetch_one(vsphere, vsphere.ref('Folder', again), ['name']) == {
        'name': 'Volumes'}


@pytest.mark.parametrize('below', [(), ('Volumes',)])
def test_a_non_folder_holding_the_name_is_a_clear_error(vsphere, datacenter, below):
    vm = properties.collect(vsphere, properties.container_view(
        vsphere, vsphere.content.rootFolder, ['VirtualMachine']), {'VirtualMachine': ['name']})[0]
    assert properties.fetch_one(vsphere, vm.ref, ['parent'])['parent'].value == (
        datacenter.vm_folder)
    with pytest.raises(errors.VSphereError, match='VirtualMachine holds that name'):
        folders.Folders(vsphere).ensure(datacenter, (vm.get('name'), *below))


@pytest.mark.parametrize('volume_folder, expected', [
    ('Volumes', ('OpenStack', 'Project (p1)', 'Volumes')),
    ('cinder/volumes', ('OpenStack', 'Project (p1)', 'cinder', 'volumes')),
    ('/Volumes/', ('OpenStack', 'Project (p1)', 'Volumes')),
])
def test_volume_folder_path(volume_folder, expected):
    assert folders.volume_folder_path('p1', volume_folder) == expected


def test_names_are_escaped_as_vcenter_stores_them():
    assert folders.volume_folder_path('a/b%c\\d[e]', 'x%y/z') == (
        'OpenStack', 'Project (a%2fb%25c%5cd[e])', 'x%25y', 'z')


def test_a_project_id_with_path_characters_makes_one_folder(vsphere, datacenter):
    project = 'p/%s%%[x]\\y' % uuid.uuid4().hex[:8]
    path = folders.volume_folder_path(project, 'Volumes')
    ref = folders.Folders(vsphere).ensure(datacenter, path)

    assert folders.Folders(vsphere).ensure(datacenter, path) == ref    # found, not duplicated
    found = vsphere.call('FindByInventoryPath', vsphere.content.searchIndex,
                         inventoryPath='/'.join((datacenter.name, 'vm', *path)))
    assert found.value == ref
    assert _path(vsphere, ref).split('/')[1] == 'Project (%s)' % (
        project.replace('%', '%25').replace('/', '%2f').replace('\\', '%5c'))


def test_folder_managers_sharing_locks_create_each_folder_once(vsphere, datacenter, simulator,
                                                               soap_calls):
    """As two cinder-volume processes would: separate caches, one lock namespace."""
    shared = locks.LocalLocks()
    managers = [folders.Folders(vsphere, shared) for _ in range(8)]
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    managers[0].ensure(datacenter, path[:1])
    simulator.reset_stats()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        refs = set(pool.map(lambda manager: manager.ensure(datacenter, path), managers))

    assert len(refs) == 1
    assert soap_calls().calls['CreateFolder'] == 2     # 'Project (<id>)' and 'Volumes'
