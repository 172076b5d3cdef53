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

"""Start-up checks that name what to fix, and deletes that cost nothing they need not."""

from stevedore import driver as stevedore_driver

from tests import vcenter
from tests.cinder.helpers import NOVA_CONNECTOR, vm_to_attach
from vmdk_volume.driver import VMwareVcVmdkDriver


def test_the_driver_loads_through_its_stevedore_entry_point(cinder):
    manager = stevedore_driver.DriverManager('vmdk_volume.drivers', 'vmdk')
    assert manager.driver is VMwareVcVmdkDriver


def test_setup_is_eight_calls_and_scans_no_vm(driver_for, vcenters):
    vcenters['vc1'].reset_stats()
    driver_for().do_setup(None)
    calls = vcenters['vc1'].stats().calls
    # the inventory's watch (a collector, its filter and the first read), and the task
    # waits' collector and filter, so that the first attach needs no call for them
    assert calls == {'RetrieveServiceContent': 1, 'Login': 1, 'CreatePropertyCollector': 2,
                     'CreateFilter': 2, 'WaitForUpdatesEx': 1, 'FindExtension': 1}


def test_volume_that_never_had_a_backing_deletes_without_a_task(cinder, vcenters):
    volume = cinder.create_volume('vc1')
    vcenters['vc1'].reset_stats()
    cinder.managers['vc1'].driver.delete_volume(volume)
    assert vcenters['vc1'].stats().calls == {'FindAllByUuid': 1}


def _backed_volume(cinder):
    """A vc1 volume that was attached once, so it has a backing."""
    manager = cinder.managers['vc1']
    volume = cinder.create_volume('vc1')
    instance, _ = vm_to_attach(manager.driver)
    manager.initialize_connection(cinder.context, volume,
                                  dict(NOVA_CONNECTOR, instance=instance))
    volume.refresh()
    return volume


def test_backing_already_gone_is_not_an_error(cinder):
    manager = cinder.managers['vc1']
    volume = _backed_volume(cinder)
    vcenter.of(manager.driver).delete(volume.provider_location)   # out of band

    manager.delete_volume(cinder.context, volume)
    assert vcenter.of(manager.driver).find(volume.id) is None


def test_delete_of_a_backed_volume_is_an_identity_read_its_task_and_one_wait(cinder,
                                                                             vcenters):
    volume = _backed_volume(cinder)
    vcenters['vc1'].reset_stats()
    cinder.managers['vc1'].driver.delete_volume(volume)
    assert vcenters['vc1'].stats().calls == {'RetrievePropertiesEx': 1, 'Destroy_Task': 1,
                                             'WaitForUpdatesEx': 1}
