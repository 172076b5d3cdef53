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

"""The backend core without Cinder: placement on live inventory, folders that heal, limits."""

import re
import uuid

import pytest

from tests.functional.helpers import backend_config, connect, marks, plant_image_marks, request_for
from vmdk_volume.core import placement
from vmdk_volume.core.config import ConfigError
from vmdk_volume.vsphere import properties

GiB = 1024 ** 3



def test_consecutive_volumes_spread_over_datastores(backend):
    project = uuid.uuid4().hex
    refs = [backend.create_backing(request_for(40 * GiB), project) for _ in range(2)]
    stores = {backend.backings.describe(ref).datastore for ref in refs}
    for ref in refs:
        backend.backings.delete(ref)
    assert len(stores) == 2


def test_folder_deleted_out_of_band_is_recreated(backend):
    project = uuid.uuid4().hex
    first = backend.create_backing(request_for(), project)
    vm = backend.client.ref('VirtualMachine', first)
    folder = properties.fetch_one(backend.client, vm, ['parent'])['parent']
    backend.backings.delete(first)
    backend.client.run('Destroy_Task', folder)           # behind the driver's back

    second = backend.create_backing(request_for(), project)
    new_folder = properties.fetch_one(backend.client,
                                      backend.client.ref('VirtualMachine', second), ['parent'])
    backend.backings.delete(second)
    assert new_folder['parent'].value != folder.value


def test_no_fitting_datastore_is_explained(simulator):
    backend = connect(backend_config(simulator,
                                                      vmware_datastore_regex='^ssd-'))
    try:
        with pytest.raises(placement.NoPlacement, match=re.escape(
                "matches vmware_datastore_regex '^ssd-'")):
            backend.create_backing(request_for(), uuid.uuid4().hex)
    finally:
        backend.close()


def test_unknown_cluster_is_refused_at_connect(simulator):
    with pytest.raises(ConfigError, match='gold .*it has: DC0_C0'):
        connect(backend_config(simulator, vmware_cluster_name=['gold']))


def test_capacity_counts_the_datastores_placement_may_use(backend, sim_inventory):
    [pool] = backend.pools('vc1', refresh=True)
    assert pool.total == sum(d.capacity for d in sim_inventory.datastores.values())
    assert 0 < pool.free <= pool.total


def test_backing_on_a_datastore_the_instance_host_cannot_use_is_moved(simulator):
    backend = connect(backend_config(simulator))
    try:
        request = request_for()
        ref = backend.create_backing(request, uuid.uuid4().hex)
        [current] = backend.backings.datastores(ref)
        instance, host = _vm_on_a_host(backend, exclude_backing=ref)
        inventory = backend.inventory()
        datastore, host_name = inventory.datastores[current].name, inventory.hosts[host].name
        simulator.change_datastore(datastore, unmount_from=(host_name,))
        try:
            backend.inventory(refresh=True)
            backend.provisioner.make_reachable(ref, request.size_bytes, instance)
        finally:
            simulator.change_datastore(datastore, mount_on=(host_name,))   # for later tests

        [moved] = backend.backings.datastores(ref)
        assert moved != current
        assert host in backend.inventory().datastores[moved].usable_hosts()
        backend.backings.delete(ref)
    finally:
        backend.close()


def _vm_on_a_host(backend, exclude_backing):
    view = properties.container_view(backend.client, backend.client.content.rootFolder,
                                     ['VirtualMachine'])
    vm = next(item for item in properties.collect(backend.client, view, {
        'VirtualMachine': ['runtime.host']}) if item.value != exclude_backing)
    return vm.value, vm.get('runtime.host').value


def test_clones_carry_exactly_their_own_mark(backend):
    """A volume's clone, a template snapshot and a volume from it carry their own id only,
    though the source carries the image-cache marks (as an earlier release left them)."""
    project, source = uuid.uuid4().hex, request_for()
    made = [backend.create_backing(source, project)]
    plant_image_marks(backend.client, made[0])
    try:
        clone, snapshot, from_snapshot = request_for(), request_for(), request_for()
        made.append(backend.clone_backing(backend.describe(made[0]), clone, project))
        made.append(backend.clone_backing(backend.describe(made[0]), snapshot, project,
                                          template=True))
        made.append(backend.clone_backing(backend.describe(made[2]), from_snapshot, project))
        found = [marks(backend.client, ref) for ref in made[1:]]
    finally:
        for ref in made:
            backend.backings.delete(ref)
    assert found == [{'cinder.volume.id': r.volume_id} for r in (clone, snapshot, from_snapshot)]


def test_a_backing_read_through_backings_names_its_datacenter(backend):
    """One describe: whoever reads a backing gets its datacenter (copies and extends need
    it), not only readers going through the backend."""
    ref = backend.create_backing(request_for(), uuid.uuid4().hex)
    try:
        described = backend.backings.describe(ref)
    finally:
        backend.backings.delete(ref)
    datacenter = backend.inventory().datastores[described.datastore].datacenter
    assert described.datacenter == datacenter and datacenter.startswith('datacenter-')
