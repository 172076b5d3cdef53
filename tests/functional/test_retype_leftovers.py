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

"""A retype that clones in place meets the ``-retyped`` copy an interrupted retype left: the
copy is destroyed and made again if it carries the volume's mark, never if it does not."""

import dataclasses
import uuid

import pytest

from tests.functional.helpers import backend_config, connect, request_for
from vmdk_volume.core import retype, volume_type
from vmdk_volume.vsphere import errors

THICK = {'vmware:vmdk_type': 'eagerZeroedThick'}


@pytest.fixture
def one_datastore(simulator):
    backend = connect(backend_config(simulator,
                                                      vmware_datastore_regex='LocalDS_0'))
    yield backend
    backend.close()


def _left_copy(backend, request, project: str, volume_id: str) -> str:
    """A VM named as the retype's copy of ``request``, marked as volume ``volume_id``'s."""
    source = backend.describe(backend.backings.find(request.volume_id))
    where = backend.place(backend.placement_request(source.size_bytes))
    copy = dataclasses.replace(request, volume_id=volume_id,
                               name=request.name + retype.RETYPED_SUFFIX)
    return backend.backings.clone_to(source, copy, where,
                                     backend.provisioner.volume_folder(where, project))


def _retype(backend, request, ref: str, project: str) -> str:
    return backend.mover.retype(ref, dataclasses.replace(
        request, profile=volume_type.parse(THICK)), None, project)


def test_the_copy_of_an_interrupted_retype_is_made_again(one_datastore):
    backend, request, project = one_datastore, request_for(), uuid.uuid4().hex
    ref = backend.create_backing(request, project)
    left = _left_copy(backend, request, project, request.volume_id)
    new_ref = _retype(backend, request, ref, project)
    try:
        assert new_ref not in (ref, left)
        assert backend.describe(new_ref).name == request.name
        with pytest.raises(errors.NotFound):
            backend.describe(left)
    finally:
        backend.backings.delete(new_ref)


def test_a_vm_of_that_name_without_the_volume_mark_is_left_alone(one_datastore):
    backend, request, project = one_datastore, request_for(), uuid.uuid4().hex
    ref = backend.create_backing(request, project)
    other = _left_copy(backend, request, project, str(uuid.uuid4()))
    try:
        with pytest.raises(errors.AlreadyExists):
            _retype(backend, request, ref, project)
        assert backend.describe(other).name == request.name + retype.RETYPED_SUFFIX
        assert backend.backings.find(request.volume_id) == ref
    finally:
        for vm in (ref, other):
            backend.backings.delete(vm)

