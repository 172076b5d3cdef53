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

"""Retype and same-vCenter migration of backings against the simulator, with their calls."""

import dataclasses
import uuid

import pytest

from tests import vcenter
from tests.functional.helpers import backend_config, connect, marks, plant_image_marks, request_for
from vmdk_volume.core import retype, volume_type
from vmdk_volume.vsphere import properties

GiB = 1024 ** 3
POLICY = 'vSAN Default Storage Policy'


def _retyped(request, **profile):
    return dataclasses.replace(request, profile=volume_type.parse(profile))


def _tasks(calls):
    return {name: n for name, n in calls.items() if name.endswith('_Task')}


@pytest.fixture
def volume(backend):
    request = request_for()
    ref = backend.create_backing(request, uuid.uuid4().hex)
    yield request, ref
    found = backend.backings.find(request.volume_id)
    if found:
        backend.backings.delete(found)


def test_disk_type_change_relocates_with_one_task(backend, volume, simulator):
    request, ref = volume
    before = backend.describe(ref)
    backend.describe(ref)    # warm: nothing the retype reads is read for the first time
    simulator.reset_stats()
    new_ref = backend.mover.retype(ref, _retyped(request, **{'vmware:vmdk_type': 'thick'}),
                                   None, uuid.uuid4().hex)
    calls = simulator.stats().calls
    after = backend.describe(ref)
    assert new_ref == ref
    assert after.datastore != before.datastore
    assert after.vmdk_path.startswith('[%s] ' % after.datastore_name)
    assert after.disk_type is volume_type.DiskType.THICK
    assert backend.backings.datastores(ref) == [after.datastore]   # the VM's home moved too
    assert _tasks(calls) == {'RelocateVM_Task': 1}
    assert sum(calls.values()) <= 4, calls


def test_policy_change_on_a_compatible_datastore_reconfigures(backend, volume, simulator):
    request, ref = volume
    profile_id = backend.policies.profile_id(POLICY)
    backend.compatible_datastores(profile_id)
    simulator.reset_stats()
    backend.mover.retype(ref, _retyped(request, **{'vmware:storage_profile': POLICY}), None,
                         uuid.uuid4().hex)
    calls = simulator.stats().calls
    disk = backend.describe(ref)
    assert _tasks(calls) == {'ReconfigVM_Task': 1}
    assert sum(calls.values()) <= 4, calls
    assert vcenter.associated_profiles(backend, ref) == [profile_id]
    assert vcenter.associated_profiles(backend, '%s:%d' % (ref, disk.disk_key),
                                'virtualDiskId') == [profile_id]


def test_adapter_change_moves_the_disk_to_a_new_controller(backend, volume, simulator):
    request, ref = volume
    simulator.reset_stats()
    backend.mover.retype(ref, _retyped(request, **{'vmware:adapter_type': 'paraVirtual'}),
                         None, uuid.uuid4().hex)
    assert _tasks(simulator.stats().calls) == {'ReconfigVM_Task': 1}
    after = backend.describe(ref)
    assert after.adapter_type is volume_type.AdapterType.PARA_VIRTUAL
    devices = properties.fetch_one(backend.client, backend.client.ref('VirtualMachine', ref),
                                   ['config.hardware.device'])['config.hardware.device']
    assert 'VirtualLsiLogicController' not in {type(d).__name__ for d in devices.VirtualDevice}


def test_disk_type_and_adapter_change_relocate_then_reconfigure(backend, volume, simulator):
    request, ref = volume
    simulator.reset_stats()
    new_ref = backend.mover.retype(ref, _retyped(request, **{
        'vmware:vmdk_type': 'thick', 'vmware:adapter_type': 'paraVirtual'}), None, 'p')
    assert new_ref == ref
    assert _tasks(simulator.stats().calls) == {'RelocateVM_Task': 1, 'ReconfigVM_Task': 1}
    after = backend.describe(ref)
    assert after.disk_type is volume_type.DiskType.THICK
    assert after.adapter_type is volume_type.AdapterType.PARA_VIRTUAL
    assert backend.backings.datastores(ref) == [after.datastore]


def test_same_profile_costs_no_task(backend, volume, simulator):
    request, ref = volume
    simulator.reset_stats()
    backend.mover.retype(ref, _retyped(request, **{'vmware:clone_type': 'linked'}), None, 'p')
    assert _tasks(simulator.stats().calls) == {}


def test_disk_type_change_on_the_only_datastore_clones_in_place(simulator):
    backend = connect(backend_config(simulator,
                                                      vmware_datastore_regex='LocalDS_0'))
    try:
        request = request_for()
        project = uuid.uuid4().hex
        ref = backend.create_backing(request, project)
        simulator.reset_stats()
        new_ref = backend.mover.retype(ref, _retyped(request, **{
            'vmware:vmdk_type': 'eagerZeroedThick'}), None, project)
        tasks = _tasks(simulator.stats().calls)
        assert new_ref != ref
        assert backend.backings.find(request.volume_id) == new_ref
        after = backend.describe(new_ref)
        assert after.name == request.name
        assert after.disk_type is volume_type.DiskType.EAGER_ZEROED_THICK
        assert tasks == {'CloneVM_Task': 1, 'Destroy_Task': 1, 'ReconfigVM_Task': 1}
        backend.backings.delete(new_ref)
    finally:
        backend.close()


def test_clone_in_place_leaves_the_volume_its_mark_only(simulator):
    """The copy and the backing it becomes carry the volume's mark only, though the original
    carries the image-cache marks (as an earlier release left them)."""
    backend = connect(backend_config(simulator,
                                                      vmware_datastore_regex='LocalDS_0'))
    try:
        request, project = request_for(), uuid.uuid4().hex
        ref = backend.create_backing(request, project)
        plant_image_marks(backend.client, ref)
        new_ref = backend.mover.retype(ref, _retyped(request, **{
            'vmware:vmdk_type': 'eagerZeroedThick'}), None, project)
        carried = marks(backend.client, new_ref)
        backend.backings.delete(new_ref)
    finally:
        backend.close()
    assert new_ref != ref
    assert carried == {'cinder.volume.id': request.volume_id}


def test_impossible_retypes_change_nothing(simulator):
    backend = connect(backend_config(simulator,
                                                      vmware_datastore_regex='LocalDS_0'))
    try:
        request = request_for()
        ref = backend.create_backing(request, uuid.uuid4().hex)
        snapshot = backend.backings.snapshot(ref, 'keep')
        before = backend.describe(ref)
        for specs, reason in [({'vmware:vmdk_type': 'thick'}, 'drop the volume'),
                              ({'vmware:adapter_type': 'busLogic'}, 'old controller')]:
            with pytest.raises(retype.Impossible, match=reason):
                backend.mover.retype(ref, _retyped(request, **specs), None, 'p')
        assert backend.describe(ref) == before
        backend.backings.remove_snapshot(snapshot)
        backend.backings.delete(ref)
    finally:
        backend.close()


def test_migrate_moves_to_a_datastore_and_folder_of_the_target(backend, volume):
    request, ref = volume
    current = backend.describe(ref).datastore_name
    target = 'LocalDS_1' if current != 'LocalDS_1' else 'LocalDS_0'
    project = uuid.uuid4().hex
    backend.mover.migrate(ref, request.size_bytes, None,
                          retype.Scope(datastore_regex='^%s$' % target, volume_folder='Moved'),
                          project)
    assert backend.describe(ref).datastore_name == target
    folder = properties.fetch_one(backend.client, backend.client.ref('VirtualMachine', ref),
                                  ['parent'])['parent']
    assert properties.fetch_one(backend.client, folder, ['name'])['name'] == 'Moved'


def test_migrate_where_nothing_fits_is_impossible(backend, volume):
    request, ref = volume
    with pytest.raises(retype.Impossible, match='no datastore'):
        backend.mover.migrate(ref, request.size_bytes, None,
                              retype.Scope(datastore_regex='^nothing$'), 'p')


@pytest.fixture
def policy_only_on(backend, simulator):
    """Make POLICY match only the named datastore (the simulator's PBM), for one test."""
    def restrict(datastore_name):
        simulator.restrict_policy(POLICY, (datastore_name,))
        backend.inventory(refresh=True)     # forget the policy's cached datastores
    yield restrict
    simulator.restrict_policy(POLICY, None)
    backend.inventory(refresh=True)


def test_policy_the_datastore_does_not_satisfy_relocates(backend, volume, simulator,
                                                         policy_only_on):
    request, ref = volume
    before = backend.describe(ref)
    target = next(ds for ds in backend.inventory().datastores.values()
                  if ds.ref != before.datastore and ds.name.startswith('LocalDS'))
    policy_only_on(target.name)
    simulator.reset_stats()
    backend.mover.retype(ref, _retyped(request, **{'vmware:storage_profile': POLICY}), None,
                         uuid.uuid4().hex)
    after = backend.describe(ref)
    assert _tasks(simulator.stats().calls) == {'RelocateVM_Task': 1}
    assert after.datastore == target.ref
    profile_id = backend.policies.profile_id(POLICY)
    assert vcenter.associated_profiles(backend, '%s:%d' % (ref, after.disk_key),
                                'virtualDiskId') == [profile_id]


def test_new_backing_with_a_policy_lands_on_a_datastore_matching_it(backend, policy_only_on):
    stores = sorted(ds.name for ds in backend.inventory().datastores.values()
                    if ds.name.startswith('LocalDS'))
    policy_only_on(stores[-1])
    request = _retyped(request_for(), **{'vmware:storage_profile': POLICY})
    ref = backend.create_backing(request, uuid.uuid4().hex)
    try:
        assert backend.describe(ref).datastore_name == stores[-1]
    finally:
        backend.backings.delete(ref)
