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

"""The crash column of the fault matrix: cinder-volume (Cinder's VolumeManager with our
driver, a process of its own: ``crashing``) is killed with SIGKILL while the fault proxy
holds the operation's characteristic step (the call reaches vCenter once the process is
dead, as a call in flight does); a new process starts as Cinder's does (do_setup, init_host's
clean-up), deletes what Cinder put in error and does the operation again. Then nothing is
lost (the bytes of the surviving volumes and of what the retry made), nothing duplicated (one
VM per volume or template snapshot id), and once the case's volumes are deleted nothing is
left: no orphan (``vmdk_volume.orphans``), no file in ``vmware_tmp_dir``.
"""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from cinder import objects

from tests.cinder.intree import disk_file, reader
from tests.reliability.operations import OPERATIONS, Case, Operation
from tests.reliability.test_fault_matrix import _clean_up, _leftovers, _refresh
from vmdk_volume import orphans
from vmdk_volume.simkit.faults import Fault, FaultKind

ROOT = pathlib.Path(__file__).resolve().parents[2]
HELD_TIMEOUT_S = 120     # a child's start (Cinder's imports on a loaded machine) and its way
RESTART_TIMEOUT_S = 240  # to the step; the restart and the operation again
AT_BYTE = 64 * 1024      # where a held transfer stops


def _unchanged(case: Case, data: bytes) -> None:
    assert _disk(case, case.volume.id) == data, 'the source volume lost its bytes'


def _copied(case: Case, data: bytes) -> None:
    _unchanged(case, data)
    for item in case.result:
        assert _disk(case, item.id) == data, '%s does not hold the source\'s bytes' % item.id


@dataclasses.dataclass(frozen=True)
class Crash:
    operation: str           # a name in operations.OPERATIONS
    step: str                # the SOAP call or NFC transfer held while the process dies
    check: Callable[[Case, bytes], None] | None = None   # bytes (written to case.volume)


CRASHES = [
    Crash('create+attach', 'CreateVM_Task'),
    Crash('clone', 'CloneVM_Task', _copied),
    Crash('snapshot (template)', 'CloneVM_Task', _copied),
    Crash('snapshot (COW)', 'CreateSnapshot_Task', _unchanged),
    Crash('volume from snapshot', 'CloneVM_Task'),
    Crash('image to volume', 'nfc-upload'),        # the image cache's fill
    Crash('volume to image', 'nfc-download'),
    Crash('retype', 'RelocateVM_Task', _unchanged),
]


@pytest.mark.parametrize('crash', CRASHES, ids=[c.operation for c in CRASHES])
def test_crash_at_step(cinder, proxy, backends, spool, record, tmp_path, crash: Crash):
    op = next(o for o in OPERATIONS if o.name == crash.operation)
    case = Case(cinder, op.backend, tmp_path)
    op.setup(case)
    data = _write(case) if crash.check else b''
    expected = _disk(case, case.snapshot.id) if op.name == 'volume from snapshot' else None
    outcome = 'FAILED'
    try:
        made = _killed_at_step(case, op, crash.step, proxy, backends)
        statuses, case.result = _restarted(case, op, made, proxy, backends)
        op.verify(case)
        if crash.check:
            crash.check(case, data)
        if expected is not None:
            assert all(_disk(case, item.id) == expected for item in case.result), \
                'the volume from the snapshot does not hold the snapshot\'s bytes'
        _one_vm_each(case)
        _clean_up(case)
        assert not list(spool.iterdir()), 'temporary files left: %s' % list(spool.iterdir())
        leftovers = _leftovers(cinder)
        for orphan in leftovers:      # so that the next cases start clean
            orphans.delete(cinder.managers['vc'].driver._backend.client, orphan)
        assert not leftovers, 'left behind: %s' % leftovers
        outcome = '%s, retried ok' % '/'.join(statuses) if statuses else 'retried ok'
    finally:
        record(op.name, 'crash', outcome)


def _killed_at_step(case: Case, op: Operation, step: str, proxy, backends) -> dict:
    """Run the operation in a process of its own, SIGKILLed once the proxy holds ``step``;
    the ids of the volumes and snapshots it made or worked on."""
    before = _rows(case)
    proxy.arm(Fault(step, FaultKind.HOLD, at_byte=AT_BYTE))
    child = subprocess.Popen(_command(case, op, 'run', backends, proxy), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_held(proxy, child)
    finally:
        child.kill()
        child.communicate()
        proxy.release()
        proxy.arm(None)
    volumes, snapshots = _rows(case)
    worked_on = [case.volume.id] if case.volume is not None else []
    return {'volumes': sorted(volumes - before[0]) + worked_on,
            'snapshots': sorted(snapshots - before[1])}


def _wait_held(proxy, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + HELD_TIMEOUT_S
    while not proxy.held:
        if child.poll() is not None:
            raise AssertionError('the operation ended (rc %s) before its step was held:\n%s'
                                 % (child.returncode, child.stderr.read()[-4000:]))
        assert time.monotonic() < deadline, 'the step was not reached in %d s' % (
            HELD_TIMEOUT_S)
        time.sleep(0.1)


def _restarted(case: Case, op: Operation, made: dict, proxy, backends) -> tuple[list, list]:
    """Start cinder-volume again, recover and retry (``crashing``): the statuses init_host
    left, and the Cinder objects the retry made or worked on."""
    done = subprocess.run(_command(case, op, 'restart', backends, proxy, **made), cwd=ROOT,
                          capture_output=True, text=True, timeout=RESTART_TIMEOUT_S)
    assert done.returncode == 0, 'the restarted process failed:\n' + done.stderr[-6000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    classes = {'Volume': objects.Volume, 'Snapshot': objects.Snapshot}
    result = [classes[kind].get_by_id(case.context, object_id)
              for kind, object_id in answer['result']]
    return answer['statuses'], result


def _command(case: Case, op: Operation, phase: str, backends, proxy, **made) -> list[str]:
    images = case.cinder.images
    request = dict(
        phase=phase, operation=op.name, backend=case.backend, tmp=str(case.tmp),
        workdir=str(case.tmp / 'cinder-volume'), shared=str(case.cinder.conf_file.parent),
        options=backends[case.backend], images=[images.show(None, i) for i in images.images],
        vc={'host': proxy.host, 'port': proxy.port, 'ca_file': proxy.ca_file},
        volume=case.volume and case.volume.id, snapshot=case.snapshot and case.snapshot.id,
        image_id=case.image_id, raw=case.raw and str(case.raw), unmanaged=case.unmanaged,
        volumes=made.get('volumes', []), snapshots=made.get('snapshots', []))
    return [sys.executable, '-m', 'tests.reliability.crashing', json.dumps(request)]


def _rows(case: Case) -> tuple[set[str], set[str]]:
    context = case.context
    return ({v.id for v in objects.VolumeList.get_all(context, filters={'deleted': False})},
            {s.id for s in objects.SnapshotList.get_all(context, filters={'deleted': False})})


def _one_vm_each(case: Case) -> None:
    """No volume or template snapshot of the case has two VMs."""
    client = case.manager.driver._backend.client
    made = [case.volume, case.snapshot] + case.result
    for item in [i for i in made if i is not None and _refresh(i)]:
        found = client.call('FindAllByUuid', client.content.searchIndex, uuid=item.id,
                            vmSearch=True, instanceUuid=True) or []
        assert len(found) <= 1, '%s has %d VMs: %s' % (item.id, len(found),
                                                       [ref.value for ref in found])


def _write(case: Case) -> bytes:
    """Random bytes written to the disk of the case's volume (the simulator's file)."""
    data = os.urandom(256 * 1024)
    _disk_path(case, case.volume.id).write_bytes(data)
    return data


def _disk(case: Case, object_id: str) -> bytes:
    return _disk_path(case, object_id).read_bytes()


def _disk_path(case: Case, object_id: str) -> pathlib.Path:
    client = case.manager.driver._backend.client
    ref = case.manager.driver._backend.backings.find(object_id)
    assert ref is not None, '%s has no VM' % object_id
    return disk_file(reader(client), client.ref('VirtualMachine', ref))
