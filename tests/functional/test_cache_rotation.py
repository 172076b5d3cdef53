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

"""Images rotating through a small cache on many threads and two processes: every volume
gets made, and no template is destroyed while it is cloned (the soak's failure, issue 19)."""

import concurrent.futures
import dataclasses
import itertools
import logging
import uuid

import pytest

from tests.functional.helpers import (
    GiB,
    assert_holds_image,
    export_to_raw,
    image_data,
    request_for,
    vms_named,
)
from vmdk_volume.core import provisioning

IMAGES, ROUNDS, THREADS = 3, 4, 8


def _small_cache(backend, monkeypatch, max_count: int) -> None:
    cache = dataclasses.replace(backend.config.image_cache, max_count=max_count)
    monkeypatch.setattr(backend, 'config', dataclasses.replace(backend.config,
                                                                image_cache=cache))


def _volume(nodes, glance, image_id, project) -> str:
    """A volume from the image as the soak makes it: the cache's clone, else the import."""
    node = nodes[hash(uuid.uuid4()) % len(nodes)]
    request = request_for()
    meta = image_data(glance, image_id).meta
    ref = node.from_cache(image_id, meta.checksum, request, project)
    return ref or node.import_image(image_data(glance, image_id), request, project)


@pytest.mark.parametrize('max_count,processes', [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_images_rotating_through_a_small_cache_all_make_volumes(
        max_count, processes, raw_file, glance, tmp_dir, backend, monkeypatch, caplog):
    """3 images, 8 threads, several rounds; ``processes`` drivers, each with its own cache
    index, share the image locks (Cinder's coordination). No clone met a vanished
    template (the fallback import is for templates destroyed behind the cache's back)."""
    caplog.set_level(logging.INFO, 'vmdk_volume.core.images')
    _small_cache(backend, monkeypatch, max_count)
    nodes = [backend.images() for _ in range(processes)]
    image_ids = [glance.add(raw_file, 'raw') for _ in range(IMAGES)]
    project = uuid.uuid4().hex
    work = list(itertools.islice(itertools.cycle(image_ids), IMAGES * ROUNDS * 2))
    made, failures = [], []
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_volume, nodes, glance, image_id, project)
                   for image_id in work]
        for future in futures:
            try:
                made.append(future.result())
            except Exception as error:      # noqa: BLE001 - every failure is reported
                failures.append('%s: %s' % (type(error).__name__, error))
    try:
        assert failures == [], '\n'.join(failures)
        assert 'vanished while it was cloned' not in caplog.text
    finally:
        for ref in made:
            backend.backings.delete(ref)
        for image_id in image_ids:
            for vm in vms_named(backend, 'image-%s' % image_id):
                backend.backings.delete(vm.value)


def test_a_template_destroyed_just_before_its_clone_is_imported_again(
        raw_file, glance, tmp_dir, image_ops, backend, monkeypatch, tmp_path):
    """Destroyed behind the cache's back (an older release's eviction, an operator) after
    the clone looked it up: the volume is made from a new import, holding the image."""
    image_id = glance.add(raw_file, 'raw')
    project = uuid.uuid4().hex
    backend.backings.delete(image_ops.import_image(image_data(glance, image_id),
                                                   request_for(), project))
    [old] = [vm.value for vm in vms_named(backend, 'image-%s' % image_id)]
    clone = provisioning.Provisioner.clone

    def destroyed_first(provisioner, source, *args, **kwargs):
        if source.ref == old:
            backend.backings.delete(old)
        return clone(provisioner, source, *args, **kwargs)
    monkeypatch.setattr(provisioning.Provisioner, 'clone', destroyed_first)
    ref = image_ops.import_image(image_data(glance, image_id), request_for(), project)
    try:
        exported = export_to_raw(image_ops, ref, GiB, glance, tmp_path)
    finally:
        backend.backings.delete(ref)
    assert_holds_image(exported, raw_file, tmp_dir)
    [new] = [vm.value for vm in vms_named(backend, 'image-%s' % image_id)]
    assert new != old
    backend.backings.delete(new)
