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

"""Every driver operation under every fault, through Cinder's VolumeManager and the fault
proxy: the operation succeeds after retry or ends in a Cinder error, never hangs; what
succeeded holds the expected bytes; the driver's temporary directory is empty; and once the
case's volumes are deleted, the simulator holds no VM, VM snapshot or disk file in our
folders that no Cinder volume or snapshot owns (``vmdk_volume.cmd.orphans``)."""


import pytest
from vmdk_volume_simkit.faults import Fault, FaultKind

from tests import vcenter
from tests.reliability.operations import (
    OPERATIONS,
    Case,
    Operation,
    clean_up,
    clear_leftovers,
    under_fault,
)

SOAP_KINDS = (FaultKind.NOT_AUTHENTICATED, FaultKind.RESET, FaultKind.LOST_REPLY,
              FaultKind.HTTP_503, FaultKind.DELAY, FaultKind.TASK_ERROR)


def _param(op: Operation, fault: Fault):
    return pytest.param(op, fault, id='%s-%s' % (op.name, fault.kind))


def _cases():
    """(operation, fault) pairs; the simulator restarts come last, as they lose the
    inventory the other cases would start from."""
    for kind in (*SOAP_KINDS, FaultKind.CUT_TRANSFER, FaultKind.RESTART):
        for op in OPERATIONS:
            if kind is FaultKind.CUT_TRANSFER and op.transfer:
                yield _param(op, Fault(op.transfer, kind, at_byte=64 * 1024))
            elif kind is FaultKind.TASK_ERROR and not op.fault_on.endswith('_Task'):
                continue
            elif kind is not FaultKind.CUT_TRANSFER:
                yield _param(op, Fault(op.fault_on, kind, delay_s=3))


@pytest.mark.parametrize('op, fault', _cases())
def test_operation_under_fault(cinder, proxy, spool, record, tmp_path, op: Operation,
                               fault: Fault):
    case = Case(cinder, op.backend, tmp_path)
    op.setup(case)
    with under_fault(op, case, fault, proxy, record, op.name) as outcome:
        if outcome == 'ok after retry':
            op.verify(case)
        left_in_spool = list(spool.iterdir())
        assert not left_in_spool, 'temporary files left: %s' % left_in_spool
        clean_up(case)
        clear_leftovers(cinder, vcenter.of(cinder.managers['vc'].driver).client)
    assert outcome in ('ok after retry', 'error'), outcome


