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

"""The fault matrix with locks in play: each operation the driver does on a volume that
Nova's own code attached to a powered-on instance (through the instance, or in place) under
the faults that can leave something half-done (the task fails, the reply is lost, the
connection drops), in turn on one attached volume, through Cinder's VolumeManager and the
fault proxy. After each fault: Cinder's records are in error or unchanged (never in a
transitional state), the instance is powered on and still holds the volume's disk, nothing
is in ``vmware_tmp_dir``, a retry of what failed works, what succeeded holds the volume's
bytes, and once it is deleted nothing is left (``vmdk-volume orphans`` lists nothing, no VM
more than after the attach). Then Nova's detach works and, the volume deleted, the VMs are
those of before. Cases in ``attached_operations``."""

import dataclasses

import pytest
from vmdk_volume_simkit.faults import Fault, FaultKind

# Cinder's attachment API served by the VolumeManagers, and Nova's service context
from tests import vcenter
from tests.cinder.fixtures import api, before, service_context  # noqa: F401
from tests.cinder.helpers import disk_file, vm_names
from tests.cinder.nova_attach import attach, detach, instances, volume_disk
from tests.cinder.nova_compute import NovaCompute
from tests.reliability.attached_operations import ATTACHED_OPERATIONS, AttachedCase, instance_disk
from tests.reliability.operations import Operation, clean_up, clear_leftovers, refresh, under_fault
from vmdk_volume.vsphere import properties

FAULTS = (FaultKind.TASK_ERROR, FaultKind.LOST_REPLY, FaultKind.RESET)
# what Cinder leaves once an operation ended (a backup's temporary volume: backing-up)
SETTLED = ('available', 'in-use', 'backing-up')


@pytest.fixture(scope='module')
def nova(proxy):
    """A nova-compute child on the simulator (through the proxy, never armed for Nova)."""
    compute = NovaCompute(proxy)
    yield compute
    compute.close()


def _faults(op: Operation) -> list[Fault]:
    """The faults on the operation's call (a task error only on a task), and the cut of
    its NFC transfer if it has one."""
    faults = [Fault(op.fault_on, kind) for kind in FAULTS
              if kind is not FaultKind.TASK_ERROR or op.fault_on.endswith('_Task')]
    if op.transfer:
        faults.append(Fault(op.transfer, FaultKind.CUT_TRANSFER, at_byte=64 * 1024))
    return faults


@pytest.mark.parametrize('op', ATTACHED_OPERATIONS, ids=lambda op: op.name)
def test_attached_operation_under_faults(cinder, proxy, api, nova, service_context,  # noqa: F811
                                         spool, record, before, tmp_path,  # noqa: F811
                                         op: Operation):
    """One attached volume, the operation under each fault in turn (what a fault left
    must not hinder the next operation), then Nova's detach."""
    client = vcenter.of(cinder.managers[op.backend].driver).client
    vms_before = sorted(vm_names(client))
    volume = cinder.create_volume(op.backend)
    attached = attach(api, nova, service_context, volume, instances(client)[0])
    disk_file(client, volume_disk(client, attached.instance.ref, volume.id)).write_bytes(before)
    vms_attached = sorted(vm_names(client))
    for fault in _faults(op):
        case = AttachedCase(cinder, op.backend, tmp_path / fault.kind, volume=volume,
                            attached=attached)
        case.tmp.mkdir()
        _under_fault(case, op, fault, proxy, spool, record)
        assert sorted(vm_names(client)) == vms_attached, 'VMs made by %s remain' % fault.kind
    detach(api, nova, service_context, volume, attached)
    assert volume_disk(client, attached.instance.ref, volume.id) is None, \
        "Nova's detach left the disk in the instance"
    clean_up(AttachedCase(cinder, op.backend, tmp_path, volume=volume))
    assert sorted(vm_names(client)) == vms_before


def _under_fault(case: AttachedCase, op: Operation, fault: Fault, proxy, spool,
                 record) -> None:
    """Run ``op`` under ``fault``; check it settled, retry it if it failed, check the
    bytes; delete what it made (the attached volume stays) and find nothing left."""
    recorded = (case.volume.size, case.volume.volume_type_id)
    with under_fault(op, case, fault, proxy, record, '%s, attached' % op.name) as outcome:
        assert outcome in ('ok after retry', 'error'), outcome
        _check_settled(case, spool)
        if outcome == 'error':
            assert (case.volume.size, case.volume.volume_type_id) == recorded
            _retry(op, case)
        op.verify(case)
        clean_up(dataclasses.replace(case, volume=None, result=[
            item for item in case.result if item.id != case.volume.id]))
        clear_leftovers(case.cinder, case.client)


def _check_settled(case: AttachedCase, spool) -> None:
    """Cinder's records in error or unchanged, the instance on and holding the volume's
    disk (the backing's file), nothing in the spool."""
    case.volume.refresh()
    assert case.volume.attach_status == 'attached'
    assert case.volume.status == 'in-use' or 'error' in case.volume.status, case.volume.status
    for item in case.result:
        if refresh(item):
            assert item.status in SETTLED or 'error' in item.status, \
                (item, item.status)
    props = properties.fetch_one(case.client, case.client.ref(
        'VirtualMachine', case.attached.instance.ref), ['runtime.powerState'])
    assert props['runtime.powerState'] == 'poweredOn'
    held = instance_disk(case)
    assert held is not None, 'the instance lost the volume disk'
    backings = vcenter.of(case.manager.driver).backings
    backing = backings.find(case.volume.id)
    assert held.backing.fileName == backings.describe(backing).vmdk_path
    assert not list(spool.iterdir()), 'temporary files left: %s' % list(spool.iterdir())


def _retry(op: Operation, case: AttachedCase) -> None:
    """The operation again, without a fault, once an admin reset a volume in error to
    in-use (``cinder reset-state``): it succeeds."""
    if 'error' in case.volume.status:
        case.set_status('in-use')
    op.run(case)
    made = case.result[-1]
    made.refresh()
    assert 'error' not in made.status, 'the retry failed: %s' % made.status
