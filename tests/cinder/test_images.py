"""A volume from a Glance image and back to an image, through Cinder's VolumeManager."""

import os
import subprocess

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
