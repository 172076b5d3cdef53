"""``vmdk-volume orphans`` reading Cinder's database through the cinder.conf."""

import subprocess
import sys
import uuid

from tests.cinder.test_lifecycle import NOVA_CONNECTOR, _instance
from vmdk_volume import volume_type
from vmdk_volume.backings import BackingRequest


def test_orphans_reads_cinder_volumes_from_the_database(cinder):
    manager = cinder.managers['vc1']
    backend = manager.driver._backend
    volume = cinder.create_volume('vc1')
    instance, _ = _instance(manager.driver)
    manager.initialize_connection(cinder.context, volume,
                                  dict(NOVA_CONNECTOR, instance=instance))
    gone = str(uuid.uuid4())
    leftover = backend.create_backing(BackingRequest(
        volume_id=gone, name='volume-%s' % gone, size_bytes=1024 ** 3,
        profile=volume_type.parse({})), volume.project_id)
    try:
        done = subprocess.run([sys.executable, '-m', 'vmdk_volume.cli', 'orphans',
                               '--config-file', str(cinder.conf_file), '--backend', 'vc1'],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert 'volume-%s (%s) id %s' % (gone, leftover, gone) in done.stdout
        assert volume.id not in done.stdout       # owned: in Cinder's database
    finally:
        backend.backings.delete(leftover)
        manager.delete_volume(cinder.context, volume)
