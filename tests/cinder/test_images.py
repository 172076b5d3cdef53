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

"""A volume from a Glance image and back to an image, through Cinder's VolumeManager."""

import glob
import os
import subprocess

import pytest
import requests

from tests import hostile_images as hostile
from tests import vcenter
from tests.cinder import racing
from tests.cinder.helpers import read_backing, stream_optimized, volume_bytes
from vmdk_volume.cmd import orphans
from vmdk_volume.core.images import located, source
from vmdk_volume.vsphere import inventory, leases

MiB = 1024 ** 2


def test_volume_from_qcow2_image_and_back(cinder, tmp_path):
    from cinder import objects
    glance = cinder.images
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(2 * MiB))
    qcow2 = tmp_path / 'disk.qcow2'
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', str(raw), str(qcow2)],
                   check=True)
    image_id = glance.add(qcow2, 'qcow2')
    volume = cinder.new_volume('vc1')
    manager = cinder.managers['vc1']
    manager.create_volume(cinder.context, volume,
                          request_spec=objects.RequestSpec(image_id=image_id))
    volume.refresh()
    assert volume.status == 'available'
    assert vcenter.of(manager.driver).find(volume.id) is not None

    upload = glance.create_empty()
    manager.copy_volume_to_image(cinder.context, volume.id, dict(upload))
    meta = glance.show(None, upload['id'])
    assert meta['properties']['vmware_disktype'] == 'streamOptimized'
    back = tmp_path / 'back.raw'
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(glance.path(upload['id'])), str(back)], check=True)
    assert back.read_bytes()[:2 * MiB] == raw.read_bytes()
    manager.delete_volume(cinder.context, volume)


def test_volume_from_image_on_a_vcenter_datastore_is_copied_there(cinder, vcenters, tmp_path):
    """glance_store's VMware store location on vc1: Cinder's create flow hands it to
    clone_image, which copies the disk on vCenter; Glance serves no byte."""
    glance, vc1 = cinder.images, vcenters['vc1']
    view = vcenter.of(cinder.managers['vc1'].driver)
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(2 * MiB))
    image_id = glance.add(raw, 'vmdk', vmware_disktype='sparse')
    sparse = tmp_path / image_id       # the store's file, its extent named after the image
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=monolithicSparse', str(raw), str(sparse)], check=True)
    with open(sparse, 'rb') as data:
        glance.update(None, image_id, {}, data=data, purge_props=False)
    inventory = view.inventory()
    store = min(inventory.datastores.values(), key=lambda ds: ds.name)
    found = located.DatastoreFile(vc1.host, inventory.datacenters[store.datacenter].name,
                                  store.name, 'glance/%s' % image_id)
    requests.put(found.http_url(vc1.port), data=sparse.read_bytes(), verify=vc1.ca_file,
                 headers={'Cookie': leases.session_cookie(view.client)},
                 timeout=30).raise_for_status()
    glance.locations[image_id] = ['vsphere://%s/folder/glance/%s?%s' % (
        vc1.host, image_id, found.http_url(vc1.port).split('?', 1)[1])]
    downloads = glance.downloads
    vc1.reset_stats()
    volume = cinder.create_volume('vc1', image_id)
    stats = vc1.stats()
    assert volume.status == 'available'
    assert glance.downloads == downloads
    assert stats.nfc_bytes_uploaded == 0 and stats.calls['CopyVirtualDisk_Task'] == 1

    upload = glance.create_empty()
    cinder.managers['vc1'].copy_volume_to_image(cinder.context, volume.id, dict(upload))
    back = tmp_path / 'back.raw'
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(glance.path(upload['id'])), str(back)], check=True)
    assert back.read_bytes()[:2 * MiB] == raw.read_bytes()
    cinder.managers['vc1'].delete_volume(cinder.context, volume)


def test_volume_from_a_cached_image_carries_its_own_mark_only(cinder, tmp_path):
    """The volume is a clone of the image's cached template: it carries its own id, not the
    image's, so orphans does not list it (as temporary, for ``--delete`` to destroy)."""
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(MiB))
    manager = cinder.managers['vc1']
    volume = cinder.create_volume('vc1', image_id=cinder.images.add(raw, 'raw'))
    client = vcenter.of(manager.driver).client
    try:
        options = read_backing(manager.driver, volume.id)['config.extraConfig'].OptionValue
        listed = [o.name for o in orphans.find(client, frozenset([volume.id]))]
    finally:
        manager.delete_volume(cinder.context, volume)
    assert {o.key: o.value for o in options if o.key.startswith('cinder.')} == {
        'cinder.volume.id': volume.id}
    assert volume.name not in listed


@pytest.fixture
def listener():
    canary = hostile.Listener()
    yield canary
    canary.close()


@pytest.fixture(scope='module')
def imaged_volume(cinder, tmp_path_factory):
    """A volume of vc1 made from a raw image (it has a backing) and the image's bytes."""
    raw = tmp_path_factory.mktemp('reimage') / 'disk.raw'
    raw.write_bytes(os.urandom(3 * MiB))
    volume = cinder.create_volume('vc1', cinder.images.add(raw, 'raw'))
    assert volume.status == 'available'
    yield volume, raw
    cinder.managers['vc1'].delete_volume(cinder.context, volume)


def _spools() -> set:
    return set(glob.glob('/tmp/%s*' % source.SPOOL_PREFIX))


REIMAGE_CASES = ('sparse, parent hint to a host file', 'sparse, parent hint to nbd://',
                 'sparse, parent hint to /proc/self/fd/N', 'stream, parent hint to a host file',
                 'stream cut in half', 'sparse grain table past the end')


@pytest.mark.parametrize('case', REIMAGE_CASES)
def test_reimage_with_a_hostile_image_is_refused(case, cinder, imaged_volume, listener,
                                                 tmp_path, monkeypatch):
    """os-reimage (any project member): VolumeManager.reimage calls copy_image_to_volume
    without Cinder's image checks; the driver refuses, the backing stays, nothing is read.
    The parent hint names the cinder.conf holding vmware_host_password."""
    from cinder import exception
    volume, raw = imaged_volume
    manager = cinder.managers['vc1']
    backing = vcenter.of(manager.driver).find(volume.id)
    data, props, message = hostile.refused_everywhere(case, raw, cinder.conf_file,
                                                      listener.port, tmp_path)
    image = tmp_path / 'hostile.vmdk'
    image.write_bytes(data)
    image_id = cinder.images.add(image, 'vmdk', **props)
    volume.update({'status': 'downloading', 'previous_status': 'available'})
    volume.save()
    log, spools = hostile.traced(tmp_path, monkeypatch), _spools()
    with pytest.raises(exception.ImageUnacceptable, match=message):
        manager.reimage(cinder.context, volume, cinder.images.show(None, image_id))
    volume.refresh()
    assert volume.status == 'error'
    assert vcenter.of(manager.driver).find(volume.id) == backing
    assert listener.connections == 0 and not log.exists() and _spools() == spools
    volume.update({'status': 'available'})
    volume.save()


def test_reimage_with_a_sound_image_replaces_the_disk(cinder, imaged_volume, tmp_path):
    volume, _raw = imaged_volume
    manager = cinder.managers['vc1']
    raw = tmp_path / 'new.raw'
    raw.write_bytes(os.urandom(2 * MiB))
    image_id = cinder.images.add(raw, 'raw')
    volume.update({'status': 'downloading', 'previous_status': 'available'})
    volume.save()
    manager.reimage(cinder.context, volume, cinder.images.show(None, image_id))
    volume.refresh()
    assert volume.status == 'available'
    upload = cinder.images.create_empty()
    manager.copy_volume_to_image(cinder.context, volume.id, dict(upload))
    back = tmp_path / 'back.raw'
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(cinder.images.path(upload['id'])), str(back)], check=True)
    assert back.read_bytes()[:2 * MiB] == raw.read_bytes()


@pytest.mark.parametrize('case', ['stream cut in half', 'vSphere stream without its end',
                                  'sparse grain table past the end'])
def test_create_from_a_corrupt_image_fails_and_leaves_no_backing(case, cinder, listener,
                                                                 tmp_path):
    """Cinder's create flow (which refuses a VMDK naming a parent itself, see
    test_bad_input) passes these on; the driver refuses them."""
    from cinder import exception, objects
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(3 * MiB))
    data, props, message = hostile.refused_everywhere(case, raw, cinder.conf_file,
                                                      listener.port, tmp_path)
    image = tmp_path / 'corrupt.vmdk'
    image.write_bytes(data)
    image_id = cinder.images.add(image, 'vmdk', **props)
    volume = cinder.new_volume('vc1')
    with pytest.raises(exception.ImageUnacceptable, match=message):
        cinder.managers['vc1'].create_volume(
            cinder.context, volume, request_spec=objects.RequestSpec(image_id=image_id),
            allow_reschedule=False)
    volume.refresh()
    assert volume.status == 'error'
    assert vcenter.of(cinder.managers['vc1'].driver).find(volume.id) is None


def test_clone_image_refuses_a_hostile_file_on_a_vcenter_datastore(cinder, vcenters,
                                                                    listener, tmp_path):
    """Cinder's create flow hands the vsphere:// location to clone_image: a file naming a
    parent is refused there, not copied by vCenter (which may follow the parent)."""
    from cinder import exception, objects
    glance, vc1 = cinder.images, vcenters['vc1']
    view = vcenter.of(cinder.managers['vc1'].driver)
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(2 * MiB))
    data, _props, _message = hostile.refused_everywhere(
        'sparse, parent hint to a host file', raw, cinder.conf_file, listener.port, tmp_path)
    image_id = glance.add(raw, 'vmdk', vmware_disktype='sparse')
    inventory = view.inventory()
    store = min(inventory.datastores.values(), key=lambda ds: ds.name)
    found = located.DatastoreFile(vc1.host, inventory.datacenters[store.datacenter].name,
                                  store.name, 'glance/%s' % image_id)
    requests.put(found.http_url(vc1.port), data=data, verify=vc1.ca_file,
                 headers={'Cookie': leases.session_cookie(view.client)},
                 timeout=30).raise_for_status()
    glance.locations[image_id] = ['vsphere://%s/folder/glance/%s?%s' % (
        vc1.host, image_id, found.http_url(vc1.port).split('?', 1)[1])]
    vc1.reset_stats()
    volume = cinder.new_volume('vc1')
    with pytest.raises(exception.ImageUnacceptable, match='names a parent'):
        cinder.managers['vc1'].create_volume(
            cinder.context, volume, request_spec=objects.RequestSpec(image_id=image_id),
            allow_reschedule=False)
    volume.refresh()
    assert volume.status == 'error'
    assert 'CopyVirtualDisk_Task' not in vc1.stats().calls
    assert view.find(volume.id) is None


def test_image_conversion_disable_refuses_images_that_are_not_vmdk(cinder, tmp_path):
    from cinder import exception, objects
    from oslo_config import cfg
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(MiB))
    image_id = cinder.images.add(raw, 'raw')
    volume = cinder.new_volume('vc1')
    cfg.CONF.set_override('image_conversion_disable', True)
    try:
        with pytest.raises(exception.ImageConversionNotAllowed, match='upload it as a vmdk'):
            cinder.managers['vc1'].create_volume(
                cinder.context, volume, request_spec=objects.RequestSpec(image_id=image_id),
                allow_reschedule=False)
    finally:
        cfg.CONF.clear_override('image_conversion_disable')
    volume.refresh()
    assert volume.status == 'error'
    assert vcenter.of(cinder.managers['vc1'].driver).find(volume.id) is None


def test_without_a_network_namespace_qemu_img_images_are_refused(cinder, tmp_path,
                                                                 monkeypatch):
    """Not root and no user namespaces: qemu-img is not run unconfined; a qcow2 image is
    refused naming the fix, a streamOptimized one (no qemu-img needed) still imports."""
    from cinder import exception
    shim = tmp_path / 'bin'
    shim.mkdir()
    (shim / 'unshare').write_text('#!/bin/sh\necho "unshare: unshare failed: Operation not '
                                  'permitted" >&2\nexit 1\n')
    (shim / 'unshare').chmod(0o755)
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(MiB))
    qcow2, stream = tmp_path / 'disk.qcow2', tmp_path / 'disk.vmdk'
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', str(raw), str(qcow2)],
                   check=True)
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=streamOptimized', str(raw), str(stream)], check=True)
    monkeypatch.setenv('PATH', '%s:%s' % (shim, os.environ['PATH']))
    manager = cinder.managers['vc1']
    volume = cinder.new_volume('vc1')
    with pytest.raises(exception.VolumeBackendAPIException,
                       match='private network namespace.*unprivileged user namespaces'):
        manager.driver.copy_image_to_volume(cinder.context, volume, cinder.images,
                                            cinder.images.add(qcow2, 'qcow2'))
    assert vcenter.of(manager.driver).find(volume.id) is None
    image_id = cinder.images.add(stream, 'vmdk', vmware_disktype='streamOptimized')
    manager.driver.copy_image_to_volume(cinder.context, volume, cinder.images, image_id)
    assert vcenter.of(manager.driver).find(volume.id) is not None
    manager.delete_volume(cinder.context, volume)


def _from_image(cinder, backend: str, image_id):
    """A volume from the image as Cinder's create flow makes it on worker threads (its
    manager's flow waits on eventlet's thread pool, which only the main thread can): a lazy
    volume, then the driver's clone_image and, if it cloned nothing, copy_image_to_volume."""
    driver = cinder.managers[backend].driver
    volume = cinder.create_volume(backend)
    meta = cinder.images.show(cinder.context, image_id)
    update, cloned = driver.clone_image(cinder.context, volume, (None, None), meta,
                                        cinder.images)
    if cloned:
        volume.update(update)
        volume.save()
    else:
        driver.copy_image_to_volume(cinder.context, volume, cinder.images, image_id)
    return image_id, volume


@pytest.fixture(params=[1, 20])
def max_count(request, cinder, vcenters):
    """A backend section on vc1's vCenter whose image cache keeps ``max_count`` entries:
    its name and the count."""
    section = 'cache-%d' % request.param
    cinder.add_backend(section, vcenters['vc1'],
                       {'vmware_image_cache_max_count': request.param})
    yield section, request.param
    cinder.remove_backend(section)


def test_concurrent_volumes_from_new_images_all_hold_their_bytes(cinder, tmp_path, max_count):
    """Three new images, three volumes of each at once: no clone of an unfinished fill, no
    eviction of a template being cloned (max_count 1 evicts on every fill)."""
    section, max_count = max_count
    manager = cinder.managers[section]
    client = vcenter.of(manager.driver).client
    before = racing.orphans_now(client, cinder.context)
    images = {}
    for n in range(3):
        data, vmdk = stream_optimized(tmp_path, 'image%d' % n)
        images[cinder.images.add(vmdk, 'vmdk', vmware_disktype='streamOptimized')] = data

    run = racing.race(lambda image_id: _from_image(cinder, section, image_id),
                      list(images) * 3, 9)
    print(run.figures('9 volumes from 3 new images, max_count %d' % max_count))

    assert run.failures == []
    try:
        for image_id, volume in run.results:
            assert volume_bytes(cinder, manager, volume, tmp_path)[:2 * MiB] == images[image_id]
    finally:
        racing.race(lambda result: manager.delete_volume(cinder.context, result[1]),
                    run.results, 9)
    assert racing.orphans_now(client, cinder.context) - before == set()
    assert len(_cache_entries(client, images)) <= max_count


def _cache_entries(client, image_ids) -> list:
    return [item for item in inventory.virtual_machines(client, ['name'])
            if item.get('name') in {'image-%s' % image_id for image_id in image_ids}]
