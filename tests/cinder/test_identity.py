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

"""A stored moref is not an identity: after a vCenter restart (as a vCenter restored from a
backup, or rebuilt) new backings, templates and VM snapshots get the morefs old volumes and
snapshots recorded; every operation on the old ones leaves the new ones as they are. Through
Cinder's VolumeManager, a volume row carrying another vCenter's moref (as generic migration
copies it) is created lazy and deleted without touching the VM of that moref."""

import types

import pytest
from cinder import exception, objects
from cinder.volume import configuration, manager
from oslo_config import cfg
from vmdk_volume_simkit import ModelSize, Simulator

from tests import vcenter
from tests.cinder.helpers import NOVA_CONNECTOR, vm_to_attach
from vmdk_volume.driver import VMwareVcVmdkDriver
from vmdk_volume.vsphere import properties

GiB = 1024 ** 3
BACKEND = 'restored'
ATTEMPTS = 8     # new objects made at most to meet an old moref again


def _driver(cinder, vc, group, overrides, **options):
    """A set-up driver for backend section ``group`` on ``vc``."""
    conf = configuration.Configuration(manager.volume_backend_opts, config_group=group)
    driver = VMwareVcVmdkDriver(configuration=conf)
    settings = dict(vmware_host_ip=vc.host, vmware_host_port=vc.port,
                    vmware_host_username='admin', vmware_host_password='secret',
                    vmware_ca_file=vc.ca_file, **options)
    for name, value in settings.items():
        cfg.CONF.set_override(name, value, group=group)
        overrides.append((name, group))
    driver.do_setup(cinder.context)
    return driver


def _drivers(cinder, vc, prefix, overrides):
    """A driver keeping snapshots as templates and one keeping them as VM snapshots."""
    return types.SimpleNamespace(
        template=_driver(cinder, vc, prefix + '-template', overrides),
        cow=_driver(cinder, vc, prefix + '-cow', overrides, vmware_snapshot_format='COW'))


def _attached(cinder, driver, volume=None):
    """``volume`` (a new one if None) given a backing by an attach, as Cinder attaches."""
    volume = volume or cinder.new_volume(BACKEND)
    connector = dict(NOVA_CONNECTOR, instance=vm_to_attach(driver)[0])
    volume.update(driver.create_export(cinder.context, volume, connector) or {})
    volume.save()
    driver.initialize_connection(volume, connector)
    return volume


def _snapshot(cinder, driver, volume):
    snapshot = objects.Snapshot(context=cinder.context, volume_id=volume.id,
                                volume_size=volume.size, status='creating',
                                project_id=volume.project_id, user_id=volume.user_id)
    snapshot.create()
    snapshot.update(driver.create_snapshot(snapshot) or {})
    snapshot.save()
    return snapshot


def _moref(location):
    return location.rpartition(':')[2]


def _vms(driver) -> dict[str, tuple]:
    """Every VM: moref value -> (name, disk sizes, snapshot morefs and names)."""
    client = vcenter.of(driver).client
    view = properties.container_view(client, client.content.rootFolder, ['VirtualMachine'])
    return {item.value: (item.get('name'), tuple(
        int(d.capacityInKB) for d in getattr(item.get('config.hardware.device'),
                                             'VirtualDevice', [])
        if type(d).__name__ == 'VirtualDisk'), tuple(
        (tree.snapshot.value, tree.name)
        for tree in properties.snapshot_trees(item.get('snapshot'))))
        for item in properties.collect(client, view, {'VirtualMachine': [
            'name', 'config.hardware.device', 'snapshot']})}


def _untouched(before: dict, after: dict, *own_ids: str) -> None:
    """Every VM of ``before`` is as it was; new VMs belong to volumes ``own_ids``."""
    assert {ref: after.get(ref) for ref in before} == before
    assert all(any(i in after[ref][0] for i in own_ids) for ref in set(after) - set(before))


@pytest.fixture(scope='module')
def restored(cinder):
    """Old volumes and snapshots, the simulator restarted, and new objects that took their
    morefs (made until they did)."""
    overrides = []
    vc = Simulator(ModelSize(hosts=1, datastores=1, vms=1))
    vc.start()
    try:
        old = _drivers(cinder, vc, 'old', overrides)
        gone, moved, deleted = (_attached(cinder, old.template) for _ in range(3))
        template = _snapshot(cinder, old.template, gone)
        cow = _snapshot(cinder, old.cow, gone)
        vc.stop()
        vc.start()
        new = _drivers(cinder, vc, 'new', overrides)
        wanted = {gone.provider_location, moved.provider_location,
                  deleted.provider_location, _moref(template.provider_location)}
        others = []
        while not wanted <= {v.provider_location for v in others} and len(others) < ATTEMPTS:
            others.append(_attached(cinder, new.template))
        snapshots = [_snapshot(cinder, new.cow, others[0])]
        while snapshots[-1].provider_location != cow.provider_location and \
                len(snapshots) < ATTEMPTS:
            snapshots.append(_snapshot(cinder, new.cow, others[0]))
        # the backing of ``moved`` is on the restored vCenter, under another moref
        new.template.create_export(cinder.context, moved, dict(NOVA_CONNECTOR))
        yield types.SimpleNamespace(gone=gone, moved=moved, deleted=deleted,
                                    template=template, cow=cow, new=new, others=others,
                                    snapshots=snapshots, wanted=wanted, vc=vc)
    finally:
        vc.stop()
        for name, group in overrides:
            cfg.CONF.clear_override(name, group=group)


def test_new_objects_took_the_old_morefs(restored):
    assert restored.wanted <= {v.provider_location for v in restored.others}
    assert restored.snapshots[-1].provider_location == restored.cow.provider_location


def _refused(call, *names):
    with pytest.raises(exception.VolumeBackendAPIException) as raised:
        call()
    assert all(name in str(raised.value) for name in names), raised.value


def test_operations_on_a_volume_whose_backing_is_gone_fail_naming_it(restored, cinder,
                                                                     tmp_path):
    drivers, gone, ctx = restored.new, restored.gone, cinder.context
    driver = drivers.template
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(b'\x01' * 1024 ** 2)
    image_id = cinder.images.add(raw, 'raw')
    before = _vms(driver)
    here = {'host': driver.host, 'capabilities': driver.get_volume_stats(refresh=True)}
    for call in (
            lambda: driver.extend_volume(gone, 3),
            lambda: driver.create_cloned_volume(cinder.new_volume(BACKEND), gone),
            lambda: driver.copy_volume_to_image(ctx, gone, None,
                                                {'id': 'i-1', 'disk_format': 'vmdk'}),
            lambda: driver.copy_image_to_volume(ctx, gone, cinder.images, image_id),
            lambda: driver.retype(ctx, gone, {'extra_specs': {'vmware:vmdk_type': 'thick'}},
                                  {}, {'host': driver.host}),
            lambda: driver.migrate_volume(ctx, gone, here),
            lambda: driver.accept_transfer(ctx, gone, 'u2', 'p2'),
            lambda: driver.create_snapshot(_row(cinder, gone)),
            lambda: drivers.cow.create_snapshot(_row(cinder, gone)),
            lambda: drivers.cow.revert_to_snapshot(ctx, gone, restored.cow),
            lambda: driver.revert_to_snapshot(ctx, gone, restored.template),
            lambda: driver.create_volume_from_snapshot(cinder.new_volume(BACKEND),
                                                       restored.cow)):
        _refused(call, gone.id)
    _refused(lambda: driver.create_volume_from_snapshot(cinder.new_volume(BACKEND),
                                                        restored.template),
             restored.template.id)
    _untouched(before, _vms(driver))


def _row(cinder, volume):
    """A snapshot row of ``volume`` about to be taken."""
    snapshot = objects.Snapshot(context=cinder.context, volume_id=volume.id,
                                volume_size=volume.size, status='creating',
                                project_id=volume.project_id, user_id=volume.user_id)
    snapshot.create()
    return snapshot


def test_deleting_old_snapshots_removes_no_one_elses(restored):
    driver = restored.new.template
    before = _vms(driver)
    driver.delete_snapshot(restored.template)
    restored.new.cow.delete_snapshot(restored.cow)
    _untouched(before, _vms(driver))


def test_delete_of_a_volume_whose_moref_is_another_backing_destroys_nothing(restored):
    driver, deleted = restored.new.template, restored.deleted
    before = _vms(driver)
    restored.vc.reset_stats()
    driver.delete_volume(deleted)
    calls = restored.vc.stats().calls
    assert calls == {'RetrievePropertiesEx': 1, 'FindAllByUuid': 1}
    _untouched(before, _vms(driver))


def test_operations_on_a_volume_whose_backing_moved_act_on_it(restored, cinder):
    driver, moved = restored.new.template, restored.moved
    before = _vms(driver)
    own = vcenter.of(driver).find(moved.id)
    assert own != moved.provider_location
    driver.extend_volume(moved, 2)
    assert _vms(driver)[own][1] == (2 * GiB // 1024,)
    connector = dict(NOVA_CONNECTOR, instance=vm_to_attach(driver)[0])
    assert driver.initialize_connection(moved, connector)['data']['volume'] == own
    driver.delete_volume(moved)
    after = _vms(driver)
    assert own not in after
    del before[own]
    _untouched(before, after)


def test_attach_of_a_volume_whose_backing_is_gone_makes_it_a_new_one(restored, cinder):
    driver, gone = restored.new.template, restored.gone
    before = _vms(driver)
    connector = dict(NOVA_CONNECTOR, instance=vm_to_attach(driver)[0])
    ref = driver.initialize_connection(gone, connector)['data']['volume']
    assert ref != gone.provider_location and ref not in before
    assert vcenter.of(driver).find(gone.id) == ref
    _untouched(before, _vms(driver), gone.id)
    driver.delete_volume(gone)
    _untouched(before, _vms(driver))


# -- another vCenter's moref (generic migration) ---------------------------------------------

def _foreign_row(cinder, target: str):
    """A volume row for backend ``target`` carrying a moref another vCenter gave (as
    Cinder's generic migration copies the source's row), which on ``target``'s vCenter is
    the backing of another volume; and that volume."""
    victim = _attached(cinder, cinder.managers[target].driver, cinder.new_volume(target))
    return cinder.new_volume(target, provider_location=victim.provider_location), victim


def test_lazy_volume_records_no_moref_copied_from_another_vcenter(cinder):
    row, victim = _foreign_row(cinder, 'vc1')
    cinder.managers['vc1'].create_volume(cinder.context, row, allow_reschedule=False)
    row.refresh()
    assert row.provider_location is None


def test_delete_of_a_row_with_another_vcenters_moref_leaves_that_vm(cinder):
    row, victim = _foreign_row(cinder, 'vc1')
    driver = cinder.managers['vc1'].driver
    before = _vms(driver)
    cinder.managers['vc1'].delete_volume(cinder.context, row)
    assert before[victim.provider_location] == _vms(driver)[victim.provider_location]
    assert vcenter.of(driver).find(victim.id) == victim.provider_location
