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

"""The image cache hands out only finished templates: a fill a crash interrupted is never
cloned and is replaced by the next fill, and eviction spares what is being cloned or filled."""

import dataclasses
import uuid

import pytest

from tests.functional.helpers import (
    assert_holds_image,
    converted,
    export_to_raw,
    image_data,
    request_for,
    vms_named,
)
from vmdk_volume.cmd import orphans
from vmdk_volume.vsphere import properties, specs

STREAM_OPTIMIZED = ('vmdk', {'vmware_disktype': 'streamOptimized'})


def _image(glance, raw_file) -> str:
    fmt, props = STREAM_OPTIMIZED
    return glance.add(converted(raw_file, 'vmdk', 'subformat=streamOptimized'), fmt, **props)


def _interrupted_fill(backend, glance, image_id) -> str:
    """What a cinder-volume killed during the image's cache fill leaves: the import's VM,
    its lease open and nothing uploaded (a process of its own: its own cache index)."""
    cache = backend.images().cache
    meta = image_data(glance, image_id).meta
    wanted = cache.template_request(image_id, meta.checksum, request_for())
    _, lease = backend.provisioner.start_import(
        dataclasses.replace(wanted, size_bytes=4 * 1024 ** 2), cache.folder_path())
    vm, _ = lease.wait_ready(30)
    return vm


def _is_template(backend, ref) -> bool:
    return properties.fetch_one(backend.client, backend.client.ref('VirtualMachine', ref),
                                ['config.template'])['config.template']


def test_an_interrupted_fill_is_never_cloned_and_the_next_fill_replaces_it(
        raw_file, glance, tmp_dir, image_ops, backend, tmp_path):
    image_id = _image(glance, raw_file)
    debris = _interrupted_fill(backend, glance, image_id)
    checksum = glance.show(None, image_id)['checksum']
    project = uuid.uuid4().hex

    assert image_ops.from_cache(image_id, checksum, request_for(), project) is None
    ref = image_ops.import_image(image_data(glance, image_id), request_for(), project)
    try:
        exported = export_to_raw(image_ops, ref, 1024 ** 3, glance, tmp_path)
    finally:
        backend.backings.delete(ref)
    assert_holds_image(exported, raw_file, tmp_dir)
    [template] = [vm.value for vm in vms_named(backend, 'image-%s' % image_id)]
    assert template != debris and _is_template(backend, template)


def _one_entry_cache(backend, monkeypatch):
    cache = dataclasses.replace(backend.config.image_cache, max_count=1)
    monkeypatch.setattr(backend, 'config', dataclasses.replace(backend.config,
                                                                image_cache=cache))


def _volume(backend, image_ops, glance, image_id, project) -> None:
    backend.backings.delete(
        image_ops.import_image(image_data(glance, image_id), request_for(), project))


def _cached(backend, *image_ids) -> list[str]:
    return [image_id for image_id in image_ids if vms_named(backend, 'image-%s' % image_id)]


@pytest.mark.parametrize('busy', ['being cloned', 'its lock held'])
def test_eviction_spares_a_template_in_use_until_the_next_fill(
        busy, raw_file, glance, tmp_dir, image_ops, backend, monkeypatch):
    """max_count 1: a template being cloned here, or whose image's lock is held (a fill or
    drop, here or in another process), stays over the limit; the next fill evicts it."""
    _one_entry_cache(backend, monkeypatch)
    first, second, third = (glance.add(raw_file, 'raw') for _ in range(3))
    project = uuid.uuid4().hex
    _volume(backend, image_ops, glance, first, project)
    in_use = (image_ops.cache.reading(first) if busy == 'being cloned'
              else image_ops.cache.lock(first))
    with in_use:
        _volume(backend, image_ops, glance, second, project)
        assert _cached(backend, first, second) == [first, second]
    _volume(backend, image_ops, glance, third, project)
    assert _cached(backend, first, second, third) == [third]


def _interrupted_import_into(backend, request, project) -> str:
    """The ``volume-<id>-image`` VM a cinder-volume killed while importing an image into
    the volume's backing (vmware_lazy_create = False) leaves, its lease open."""
    temporary = dataclasses.replace(request, volume_id=str(uuid.uuid4()),
                                    name='%s-image' % request.name, size_bytes=4 * 1024 ** 2,
                                    extra_config=specs.import_marks(request.volume_id))
    provisioner = backend.provisioner
    _, lease = provisioner.start_import(temporary, provisioner.volume_folder_path(project))
    return lease.wait_ready(30)[0]


def test_an_interrupted_import_into_a_backing_is_an_orphan_once_its_volume_is_gone(backend):
    """Listed by ``orphans`` once the volume is deleted, not before."""
    request, project = request_for(), uuid.uuid4().hex
    vm = _interrupted_import_into(backend, request, project)
    try:
        assert [o for o in orphans.find(backend.client, frozenset([request.volume_id]))
                if o.ref == vm] == []
        [orphan] = [o for o in orphans.find(backend.client, frozenset()) if o.ref == vm]
    finally:
        backend.backings.delete(vm)
    assert (orphan.kind, orphan.owner_id) == (orphans.Kind.TEMPORARY, request.volume_id)


def test_an_import_into_a_backing_again_replaces_what_an_interrupted_one_left(
        raw_file, glance, tmp_dir, image_ops, backend, tmp_path):
    image_id = _image(glance, raw_file)
    request, project = request_for(), uuid.uuid4().hex
    existing = backend.create_backing(request, project)
    try:
        left = _interrupted_import_into(backend, request, project)
        image_ops.import_image(image_data(glance, image_id), request, project,
                               existing=existing)
        assert vms_named(backend, request.name + '-image') == []
        exported = export_to_raw(image_ops, existing, 1024 ** 3, glance, tmp_path)
    finally:
        backend.backings.delete(existing)
        backend.backings.delete(left)
    assert_holds_image(exported, raw_file, tmp_dir)
