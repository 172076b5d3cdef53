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
import uuid

import pytest

from vmdk_volume.core import folders, locks
from vmdk_volume.vsphere import errors, properties


@pytest.fixture
def vm_folder(sim_inventory):
    return next(iter(sim_inventory.datacenters.values())).vm_folder


def _path(vsphere, ref):
    names = []
    while True:
        props = properties.fetch_one(vsphere, vsphere.ref('Folder', ref), ['name', 'parent'])
        if props['parent']._type != 'Folder':
            return '/'.join(reversed(names))
        names.append(props['name'])
        ref = props['parent'].value


def test_hierarchy_is_created_once_then_cached(vsphere, vm_folder, simulator, soap_calls):
    folders.Folders(vsphere).ensure(vm_folder, (folders.ROOT_FOLDER,))
    manager = folders.Folders(vsphere)
    project = uuid.uuid4().hex
    path = folders.volume_folder_path(project, 'Volumes')
    simulator.reset_stats()

    ref = manager.ensure(vm_folder, path)
    cold = soap_calls().calls
    simulator.reset_stats()
    warm = manager.ensure(vm_folder, path)

    assert warm == ref
    assert soap_calls().total == 0
    assert cold == {'FindChild': 3, 'CreateFolder': 2}    # OpenStack existed already
    assert _path(vsphere, ref) == 'OpenStack/Project (%s)/Volumes' % project


def test_existing_folders_are_found_not_duplicated(vsphere, vm_folder):
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    first = folders.Folders(vsphere).ensure(vm_folder, path)
    assert folders.Folders(vsphere).ensure(vm_folder, path) == first


def test_a_folder_deleted_out_of_band_is_recreated_after_forget(vsphere, vm_folder):
    manager = folders.Folders(vsphere)
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    ref = manager.ensure(vm_folder, path)
    vsphere.run('Destroy_Task', vsphere.ref('Folder', ref))

    manager.forget(vm_folder)
    again = manager.ensure(vm_folder, path)

    assert again != ref
    assert properties.fetch_one(vsphere, vsphere.ref('Folder', again), ['name']) == {
        'name': 'Volumes'}


def test_a_non_folder_holding_the_name_is_a_clear_error(vsphere, sim_inventory, vm_folder):
    vm = properties.collect(vsphere, properties.container_view(
        vsphere, vsphere.content.rootFolder, ['VirtualMachine']), {'VirtualMachine': ['name']})[0]
    parent = properties.fetch_one(vsphere, vm.ref, ['parent'])['parent'].value
    with pytest.raises(errors.VSphereError, match='VirtualMachine holds that name'):
        folders.Folders(vsphere).ensure(parent, (vm.get('name'),))


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


def test_a_project_id_with_path_characters_makes_one_folder(vsphere, vm_folder, sim_inventory):
    project = 'p/%s%%[x]\\y' % uuid.uuid4().hex[:8]
    path = folders.volume_folder_path(project, 'Volumes')
    ref = folders.Folders(vsphere).ensure(vm_folder, path)

    assert folders.Folders(vsphere).ensure(vm_folder, path) == ref    # found, not duplicated
    datacenter = next(iter(sim_inventory.datacenters.values())).name
    found = vsphere.call('FindByInventoryPath', vsphere.content.searchIndex,
                         inventoryPath='/'.join((datacenter, 'vm', *path)))
    assert found.value == ref
    assert _path(vsphere, ref).split('/')[1] == 'Project (%s)' % (
        project.replace('%', '%25').replace('/', '%2f').replace('\\', '%5c'))


def test_folder_managers_sharing_locks_create_each_folder_once(vsphere, vm_folder, simulator,
                                                               soap_calls):
    """As two cinder-volume processes would: separate caches, one lock namespace."""
    shared = locks.LocalLocks()
    managers = [folders.Folders(vsphere, shared) for _ in range(8)]
    path = folders.volume_folder_path(uuid.uuid4().hex, 'Volumes')
    managers[0].ensure(vm_folder, path[:1])
    simulator.reset_stats()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        refs = set(pool.map(lambda manager: manager.ensure(vm_folder, path), managers))

    assert len(refs) == 1
    assert soap_calls().calls['CreateFolder'] == 2     # 'Project (<id>)' and 'Volumes'
