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

"""What vCenter made but Cinder never recorded (cinder-volume killed between the two) goes
with the Cinder object that owns it: a template snapshot Cinder put in error, deleted."""

from vmdk_volume_simkit.harness.cinder import PROJECT_ID

from tests import vcenter
from tests.cinder.helpers import attached_once, read_backing


def _unrecorded_snapshot(cinder, backend: str, source):
    """A snapshot whose template was made, left as init_host leaves one whose process died
    before Cinder recorded it: in error, with no provider_location."""
    snapshot = cinder.create_snapshot(backend, source)
    snapshot.provider_location, snapshot.status = None, 'error'
    snapshot.save()
    return snapshot


def test_deleting_a_snapshot_that_recorded_nothing_removes_its_template(cinder):
    manager = cinder.managers['vc1']
    source = attached_once(cinder, 'vc1')
    snapshot = _unrecorded_snapshot(cinder, 'vc1', source)
    assert read_backing(manager.driver, snapshot.id) is not None

    manager.delete_snapshot(cinder.context, snapshot)

    assert read_backing(manager.driver, snapshot.id) is None
    assert read_backing(manager.driver, source.id) is not None


def test_a_vm_of_the_snapshot_id_without_its_mark_is_left_alone(cinder):
    manager = cinder.managers['vc1']
    view = vcenter.of(manager.driver)
    snapshot = _unrecorded_snapshot(cinder, 'vc1', attached_once(cinder, 'vc1'))
    view.delete(view.find(snapshot.id))
    other = view.plant(snapshot.id, PROJECT_ID, name='not-a-snapshot',
                       extra_config={'cinder.volume.id': 'someone-else'})

    manager.delete_snapshot(cinder.context, snapshot)

    assert view.find(snapshot.id) == other
    view.delete(other)
