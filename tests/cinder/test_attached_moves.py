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

"""Retype and migration of a volume that Nova's own code attached to a powered-on instance,
through Cinder's VolumeManager: a retype that leaves the disk where the instance holds it is
made in place; one that would move the disk (vSphere's FileLocked) or change its adapter is
left to Cinder, which refuses it or migrates; Cinder's migration of an attached volume never
asks the driver and asks Nova to swap the volume, which Nova's VMware driver cannot do.
Fixtures in ``conftest``, Nova's attach in ``nova_attach``."""

import logging
import re
import time

import pytest
from cinder import exception, objects
from oslo_config import cfg

from tests import vcenter
from tests.cinder.helpers import scheduler_host
from tests.cinder.nova_attach import (
    attach,
    detach,
    disks,
    instances,
    storage_vmotion,
    volume_disk,
)

POLICY = 'vSAN Default Storage Policy'


def _tasks(calls: dict) -> dict:
    return {name: n for name, n in calls.items() if name.endswith('_Task')}


def _retype(cinder, volume, vtype, policy='never'):
    """Cinder's retype as its API leaves the volume for the manager."""
    volume.update({'status': 'retyping', 'previous_status': volume.status})
    volume.save()
    try:
        cinder.managers['vc1'].retype(cinder.context, volume, vtype['id'],
                                      scheduler_host(cinder, 'vc1'), migration_policy=policy)
    finally:
        volume.refresh()


@pytest.fixture
def attached(cinder, api, nova, service_context, client):
    """A volume Nova attached to a powered-on instance; detached and deleted afterwards."""
    volume = cinder.create_volume('vc1')
    made = attach(api, nova, service_context, volume, instances(client)[0])
    yield volume, made
    detach(api, nova, service_context, volume, made)
    cinder.managers['vc1'].delete_volume(cinder.context, volume)


def test_a_change_vcenter_never_sees_is_made_while_attached(cinder, attached, vcenters):
    volume, _ = attached
    linked = cinder.volume_type('attached-linked', {'vmware:clone_type': 'linked'})
    vcenters['vc1'].reset_stats()
    _retype(cinder, volume, linked)
    assert (volume.volume_type_id, volume.status) == (linked['id'], 'in-use')
    assert _tasks(vcenters['vc1'].stats().calls) == {}


def test_a_new_policy_its_datastore_satisfies_is_set_while_attached(
        cinder, attached, client, vcenters):
    volume, made = attached
    gold = cinder.volume_type('attached-policy', {'vmware:storage_profile': POLICY})
    file_name = volume_disk(client, made.instance.ref, volume.id).backing.fileName
    vcenters['vc1'].reset_stats()

    _retype(cinder, volume, gold)

    calls = vcenters['vc1'].stats().calls
    assert (volume.volume_type_id, volume.status) == (gold['id'], 'in-use')
    assert _tasks(calls) == {'ReconfigVM_Task': 1}, calls     # the backing's, no move
    assert calls['RetrievePropertiesEx'] <= 3, calls   # backing, compatible hubs, instance
    backend = vcenter.of(cinder.managers['vc1'].driver).backend
    profile_id = backend.policies.profile_id(POLICY)
    [disk] = disks(client, made.backing)
    assert vcenter.associated_profiles(backend, '%s:%d' % (made.backing, disk.key),
                                'virtualDiskId') == [profile_id]
    assert disk.backing.fileName == file_name
    assert volume_disk(client, made.instance.ref, volume.id).backing.fileName == file_name


@pytest.mark.parametrize('extra_specs, why', [
    ({'vmware:vmdk_type': 'thick'}, 'which holds its disk: vSphere moves no disk a running '
                                    'VM holds through another VM \\(FileLocked\\)'),
    ({'vmware:adapter_type': 'paraVirtual'}, 'keeps the disk on a controller of its own'),
], ids=['disk type', 'adapter'])
def test_a_retype_that_would_move_the_disk_is_refused_before_any_change(
        cinder, attached, client, vcenters, caplog, extra_specs, why):
    volume, made = attached
    old_type = volume.volume_type_id
    new_type = cinder.volume_type('attached-%s' % '-'.join(extra_specs.values()), extra_specs)
    file_name = volume_disk(client, made.instance.ref, volume.id).backing.fileName

    reason = _refused(cinder, volume, new_type, vcenters, caplog)

    assert volume.volume_type_id == old_type
    assert 'attached to instance %s' % made.instance.ref in reason
    assert 'detach the volume, then retype it' in reason
    assert re.search(why, reason), reason
    assert disks(client, made.backing)[0].backing.fileName == file_name
    assert volume_disk(client, made.instance.ref, volume.id).backing.fileName == file_name


def _refused(cinder, volume, new_type, vcenters, caplog) -> str:
    """Retype (migration policy never) refused before any task; the reason logged."""
    vcenters['vc1'].reset_stats()
    with caplog.at_level(logging.INFO, logger='vmdk_volume'), pytest.raises(
            exception.VolumeMigrationFailed, match='requires migration but is not allowed'):
        _retype(cinder, volume, new_type)
    assert _tasks(vcenters['vc1'].stats().calls) == {}
    assert volume.status == 'in-use' and volume.volume_type_id != new_type['id']
    [reason] = [r.getMessage() for r in caplog.records if 'cannot be retyped' in r.getMessage()]
    return reason


def test_after_the_instance_storage_vmotion_a_new_policy_waits_for_the_detach(
        cinder, attached, client, vcenters, caplog):
    """The backing's disk names the file the storage vMotion moved away; Nova's detach gives
    the backing the moved disk."""
    volume, made = attached
    gold = cinder.volume_type('attached-policy-moved', {'vmware:storage_profile': POLICY})
    backing_file = disks(client, made.backing)[0].backing.fileName
    moved = storage_vmotion(client, vcenter.of(cinder.managers['vc1'].driver).backend.inventory(),
                            made.instance, volume)

    reason = _refused(cinder, volume, gold, vcenters, caplog)

    assert 'whose storage vMotion moved its disk to %s' % moved.backing.fileName in reason
    assert disks(client, made.backing)[0].backing.fileName == backing_file


def test_a_move_is_refused_while_the_instance_is_powered_off_too(
        cinder, attached, client, vcenters, caplog):
    """No lock then, but the disk would move from under the instance's configuration."""
    volume, made = attached
    thick = cinder.volume_type('attached-thick-off', {'vmware:vmdk_type': 'thick'})
    instance = client.ref('VirtualMachine', made.instance.ref)
    client.run('PowerOffVM_Task', instance)
    try:
        reason = _refused(cinder, volume, thick, vcenters, caplog)
    finally:
        client.run('PowerOnVM_Task', instance)
    assert 'one the instance has while off would move from under it' in reason
    assert volume_disk(client, made.instance.ref, volume.id).backing.fileName == \
        disks(client, made.backing)[0].backing.fileName


def test_migration_of_an_attached_volume_asks_nova_to_swap_and_moves_nothing(
        cinder, attached, client, vcenters, nova):
    """Cinder's manager skips the driver's migrate_volume for a volume with attachments and
    migrates generically: a new volume on the target, then Nova's swap (Nova's API is not
    reachable here; Nova's VMware driver has no swap_volume either). The migration fails,
    the new volume goes, the attached volume and its disk stay as they were."""
    volume, made = attached
    manager = cinder.managers['vc1']
    file_name = volume_disk(client, made.instance.ref, volume.id).backing.fileName
    volume.update({'status': 'maintenance', 'previous_status': 'in-use',
                   'migration_status': 'starting'})   # as Cinder's API leaves it
    volume.save()
    vcenters['vc1'].reset_stats()
    cfg.CONF.set_override('token_auth_url', 'http://127.0.0.1:9/identity', group='nova')
    try:
        with pytest.raises(Exception, match='127.0.0.1'):
            manager.migrate_volume(cinder.context, volume, scheduler_host(cinder, 'vc1b'))
    finally:
        cfg.CONF.clear_override('token_auth_url', group='nova')

    volume.refresh()
    assert (volume.status, volume.migration_status) == ('in-use', 'error')
    assert volume.host == 'cinder@vc1#vc1'
    assert _tasks(vcenters['vc1'].stats().calls) == {}     # nothing moved, nothing made
    assert disks(client, made.backing)[0].backing.fileName == file_name
    assert volume_disk(client, made.instance.ref, volume.id).backing.fileName == file_name
    _wait_gone(cinder, 'target:%s' % volume.id)
    assert nova.swaps_volumes() is False


def _wait_gone(cinder, migration_status: str, timeout: float = 30) -> None:
    """Wait until Cinder deleted the migration's new volume (an RPC cast)."""
    deadline = time.monotonic() + timeout
    while objects.VolumeList.get_all(cinder.context, filters={
            'migration_status': migration_status}):
        assert time.monotonic() < deadline, 'the migration left its new volume'
        time.sleep(0.2)
