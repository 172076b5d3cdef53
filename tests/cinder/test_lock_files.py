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

"""The driver's lock files in Cinder's file coordination backend do not outlive their
volumes (Cinder's own locks are Cinder's to clean)."""

import pathlib

from oslo_config import cfg

from tests.cinder.helpers import NOVA_CONNECTOR, vm_to_attach


def _lock_files(volume_id: str) -> list[str]:
    """The driver's lock files naming ``volume_id``."""
    directory = pathlib.Path(cfg.CONF.coordination.backend_url.removeprefix('file://'))
    return [path.name for path in directory.iterdir()
            if 'vmdk-volume-' in path.name and volume_id in path.name]


def test_deleting_a_volume_leaves_no_lock_file_naming_it(cinder):
    manager = cinder.managers['vc1']
    instance, _ = vm_to_attach(manager.driver)
    volume = cinder.create_volume('vc1')
    manager.initialize_connection(cinder.context, volume,
                                  dict(NOVA_CONNECTOR, instance=instance))
    assert _lock_files(volume.id)

    manager.delete_volume(cinder.context, volume)

    assert _lock_files(volume.id) == []
