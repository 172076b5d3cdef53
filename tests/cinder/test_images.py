"""A volume from a Glance image and back to an image, through Cinder's VolumeManager."""

import os
import subprocess

import requests

from tests.cinder.test_lifecycle import _backing
from vmdk_volume import orphans
from vmdk_volume.images import located
from vmdk_volume.vsphere import leases

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
    assert manager.driver._backend.backings.find(volume.id) is not None

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
    backend = cinder.managers['vc1'].driver._backend
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(2 * MiB))
    image_id = glance.add(raw, 'vmdk', vmware_disktype='sparse')
    sparse = tmp_path / image_id       # the store's file, its extent named after the image
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=monolithicSparse', str(raw), str(sparse)], check=True)
    with open(sparse, 'rb') as data:
        glance.update(None, image_id, {}, data=data, purge_props=False)
    inventory = backend.inventory()
    store = min(inventory.datastores.values(), key=lambda ds: ds.name)
    found = located.DatastoreFile(vc1.host, inventory.datacenters[store.datacenter].name,
                                  store.name, 'glance/%s' % image_id)
    requests.put(found.http_url(vc1.port), data=sparse.read_bytes(), verify=vc1.ca_file,
                 headers={'Cookie': leases.session_cookie(backend.client)},
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
    client = manager.driver._backend.client
    try:
        options = _backing(manager.driver, volume.id)['config.extraConfig'].OptionValue
        listed = [o.name for o in orphans.find(client, frozenset([volume.id]))]
    finally:
        manager.delete_volume(cinder.context, volume)
    assert {o.key: o.value for o in options if o.key.startswith('cinder.')} == {
        'cinder.volume.id': volume.id}
    assert volume.name not in listed
