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

"""Manage, unmanage and the manageable listing against the simulator."""

import uuid

import pytest

from tests.functional.helpers import request_for
from vmdk_volume.core import manage
from vmdk_volume.vsphere import properties


@pytest.fixture
def unmanaged_vm(backend):
    """A powered-off VM with one disk that no volume claims (a released backing)."""
    request = request_for()
    ref = backend.create_backing(request, uuid.uuid4().hex)
    backend.manage.release(ref)
    yield ref
    backend.backings.delete(ref)


def _props(backend, ref, *paths):
    return properties.fetch_one(backend.client, backend.client.ref('VirtualMachine', ref), paths)


def test_listing_tells_what_is_safe_and_why_not(backend, unmanaged_vm):
    marked = backend.create_backing(request_for(), 'p')
    try:
        by_ref = {c.ref: c for c in backend.manage.candidates()}
        assert by_ref[unmanaged_vm].reason is None
        assert by_ref[unmanaged_vm].size_bytes == 1024 ** 3
        assert by_ref[marked].reason.startswith('it is the backing of Cinder volume')
        running = [c for c in by_ref.values() if c.name.endswith('_VM0')]
        assert running and all('powered' in c.reason for c in running)
    finally:
        backend.backings.delete(marked)


def test_adopting_gives_the_vm_the_volume_identity(backend, unmanaged_vm):
    name = _props(backend, unmanaged_vm, 'name')['name']
    volume_id, project_id = str(uuid.uuid4()), uuid.uuid4().hex
    candidate = backend.manage.resolve({'source-name': name})
    assert candidate.ref == unmanaged_vm

    backend.manage.adopt(candidate, volume_id, 'volume-' + volume_id, project_id)

    assert backend.backings.find(volume_id) == unmanaged_vm
    props = _props(backend, unmanaged_vm, 'name', 'parent', 'config.extraConfig')
    assert props['name'] == 'volume-' + volume_id
    assert backend.describe(unmanaged_vm).disk.backing.uuid == volume_id
    marks = {o.key: o.value for o in props['config.extraConfig'].OptionValue}
    assert marks['cinder.volume.id'] == volume_id
    project = properties.fetch_one(backend.client, props['parent'], ['parent'])['parent']
    assert properties.fetch_one(backend.client, project, ['name'])['name'] == (
        'Project (%s)' % project_id)

    backend.manage.release(unmanaged_vm)
    assert backend.manage.resolve({'source-id': unmanaged_vm}).reason is None


def test_in_tree_reference_format_is_understood(backend, unmanaged_vm):
    candidate = backend.manage.resolve({'source-id': unmanaged_vm})
    folders = []
    folder = candidate.parent
    while folder:
        props = properties.fetch_one(backend.client, backend.client.ref('Folder', folder),
                                     ['name', 'parent'])
        folders.append(props['name'])
        parent = props['parent']
        folder = parent.value if parent._type == 'Folder' else None
        if parent._type == 'Datacenter':
            folders.append(properties.fetch_one(backend.client, parent, ['name'])['name'])
    path = '/'.join(reversed(folders)) + '/' + candidate.name
    found = backend.manage.resolve({'source-name': '%s@%s' % (candidate.vmdk_path, path)})
    assert found.ref == unmanaged_vm


@pytest.mark.parametrize('reference, message', [
    ({}, 'give'),
    ({'source-name': 'no such vm'}, 'no VM named'),
    ({'source-id': 'vm-999999'}, 'vCenter has no VM'),
    ({'source-name': '[LocalDS_0] x.vmdk@/DC0/vm/none'}, 'no VM at inventory path'),
])
def test_bad_references_are_refused(backend, reference, message):
    with pytest.raises(manage.InvalidReference, match=message):
        backend.manage.resolve(reference)


def test_a_running_vm_is_refused_and_left_alone(backend):
    running = next(c for c in backend.manage.candidates() if c.name.endswith('_VM0'))
    with pytest.raises(manage.InvalidReference, match='power it off'):
        backend.manage.resolve({'source-id': running.ref})


def test_snapshots_of_a_backing_are_found_by_id_or_name(backend):
    request = request_for()
    ref = backend.create_backing(request, 'p')
    try:
        snap = backend.backings.snapshot(ref, 'nightly')
        assert backend.manage.snapshot(ref, {'source-name': 'nightly'}).ref == snap
        assert backend.manage.snapshot(ref, {'source-id': snap}).name == 'nightly'
        with pytest.raises(manage.InvalidReference, match='no snapshot'):
            backend.manage.snapshot(ref, {'source-name': 'weekly'})
        listed = next(c for c in backend.manage.candidates() if c.ref == ref)
        assert [s.ref for s in listed.snapshots] == [snap]
    finally:
        backend.backings.delete(ref)
