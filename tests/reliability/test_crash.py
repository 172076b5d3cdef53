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

import contextlib
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
from vmdk_volume_simkit.faults import Fault, FaultKind

from tests import vcenter
from tests.cinder.intree import disk_file, reader
from tests.reliability.operations import (
    OPERATIONS,
    Case,
    Operation,
    clean_up,
    left_behind,
    refresh,
)
from vmdk_volume.cmd import orphans

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
    backend: str | None = None   # if not the operation's
    label: str = ''              # the matrix's row, if not the operation's name
    listed: str = ''             # what orphans lists once all is deleted, by design (a name)

    @property
    def name(self) -> str:
        return self.label or self.operation


CRASHES = [
    Crash('create+attach', 'CreateVM_Task'),
    Crash('clone', 'CloneVM_Task', _copied),
    Crash('snapshot (template)', 'CloneVM_Task', _copied),
    Crash('snapshot (COW)', 'CreateSnapshot_Task', _unchanged),
    Crash('volume from snapshot', 'CloneVM_Task'),
    Crash('image to volume', 'nfc-upload'),        # the image cache's fill
    Crash('volume to image', 'nfc-download'),
    Crash('retype', 'RelocateVM_Task', _unchanged),
    # the disk type changes where no other datastore fits: a -retyped copy, then the swap
    Crash('retype', 'CloneVM_Task', _unchanged, backend='one', label='retype (copy)'),
    # vmware_lazy_create = False: the image goes into the backing made at create, through
    # a temporary import VM (volume-<id>-image), which the killed process leaves
    Crash('image to volume', 'nfc-upload', backend='eager', label='image into backing',
          listed='-image'),
]


@pytest.fixture(scope='module')
def sections(cinder, proxy, backends) -> dict[str, dict[str, str]]:
    """The fault suite's backend sections, ``one``: a backend on one datastore, and
    ``eager``: one that makes backings at create."""
    added = {'one': dict(backends['vc'], vmware_datastore_regex='^LocalDS_0$'),
             'eager': dict(backends['vc'], vmware_lazy_create='False')}
    for name, options in added.items():
        if name not in cinder.managers:
            cinder.add_backend(name, proxy, options)
    return dict(backends, **added)


@pytest.mark.parametrize('crash', CRASHES, ids=[c.name for c in CRASHES])
def test_crash_at_step(cinder, proxy, sections, spool, record, tmp_path, crash: Crash):
    op = next(o for o in OPERATIONS if o.name == crash.operation)
    case = Case(cinder, crash.backend or op.backend, tmp_path)
    outcome = 'FAILED'
    with _process('run', case, sections, proxy) as killed, \
            _process('restart', case, sections, proxy) as restarted:
        try:
            op.setup(case)
            data = _write(case, case.volume.id) if crash.check else b''
            # the snapshot's content: what a volume from it must hold
            expected = _write(case, case.snapshot.id) if op.name == 'volume from snapshot' \
                else None
            made = _killed_at_step(case, op, crash.step, proxy, killed)
            statuses, case.result = _restarted(case, op, made, restarted)
            op.verify(case)
            if crash.check:
                crash.check(case, data)
            if expected is not None:
                assert all(_disk(case, item.id) == expected for item in case.result), \
                    'the volume from the snapshot does not hold the snapshot\'s bytes'
            _one_vm_each(case)
            listed = _nothing_left(case, spool, crash.listed)
            outcome = '%s, retried ok%s' % ('/'.join(statuses), listed)
        finally:
            record(crash.name, 'crash', outcome)


@contextlib.contextmanager
def _process(phase: str, case: Case, backends, proxy):
    """A process of ``crashing`` for ``phase`` (``_ready`` waits for it); killed at the end
    if it is still there."""
    process = dict(backend=case.backend, workdir=str(case.tmp / 'cinder-volume'),
                   shared=str(case.cinder.conf_file.parent), options=backends[case.backend],
                   vc={'host': proxy.host, 'port': proxy.port, 'ca_file': proxy.ca_file})
    log = case.tmp / ('%s.log' % phase)
    with log.open('w') as stderr:
        child = subprocess.Popen(
            [sys.executable, '-m', 'tests.reliability.crashing', phase, json.dumps(process)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True)
    child.log = log
    try:
        yield child
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()


def _log(child: subprocess.Popen) -> str:
    """The end of what ``child`` wrote to stderr."""
    return child.log.read_text()[-6000:]


def _ready(child: subprocess.Popen, request: dict) -> None:
    """Wait for ``child`` to be ready, then hand it ``request``."""
    line = child.stdout.readline()
    if line.strip() != 'ready':
        child.kill()
        child.wait()
        raise AssertionError('the process did not start:\n' + _log(child))
    child.stdin.write(json.dumps(request) + '\n')
    child.stdin.flush()


def _killed_at_step(case: Case, op: Operation, step: str, proxy, child) -> dict:
    """Have ``child`` run the operation, and SIGKILL it once the proxy holds ``step``; the
    ids of the volumes and snapshots it made."""
    before = _rows(case)
    proxy.arm(Fault(step, FaultKind.HOLD, at_byte=AT_BYTE))
    try:
        _ready(child, _request(case, op))
        _wait_held(proxy, child)
    finally:
        child.kill()
        child.wait()
        proxy.release()
        proxy.arm(None)
    volumes, snapshots = _rows(case)
    return {'volumes': sorted(volumes - before[0]), 'snapshots': sorted(snapshots - before[1])}


def _wait_held(proxy, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + HELD_TIMEOUT_S
    while not proxy.held:
        if child.poll() is not None:
            raise AssertionError('the operation ended (rc %s) before its step was held:\n%s'
                                 % (child.returncode, _log(child)))
        assert time.monotonic() < deadline, 'the step was not reached in %d s' % (
            HELD_TIMEOUT_S)
        time.sleep(0.1)


def _restarted(case: Case, op: Operation, made: dict, child) -> tuple[list, list]:
    """Have ``child`` start cinder-volume, recover and retry (``crashing``): the statuses
    init_host left, and the Cinder objects the retry made or worked on."""
    _ready(child, _request(case, op, **made))
    try:
        child.wait(timeout=RESTART_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError('the restarted process hung:\n' + _log(child)) from None
    assert child.returncode == 0, 'the restarted process failed:\n' + _log(child)
    answer = json.loads(child.stdout.read().strip().splitlines()[-1])
    classes = {'Volume': objects.Volume, 'Snapshot': objects.Snapshot}
    result = [classes[kind].get_by_id(case.context, object_id)
              for kind, object_id in answer['result']]
    return answer['statuses'], result


def _request(case: Case, op: Operation, **made) -> dict:
    images = case.cinder.images
    return dict(
        operation=op.name, backend=case.backend, tmp=str(case.tmp),
        images=[images.show(None, i) for i in images.images],
        volume=case.volume and case.volume.id, snapshot=case.snapshot and case.snapshot.id,
        image_id=case.image_id, raw=case.raw and str(case.raw), unmanaged=case.unmanaged,
        volumes=made.get('volumes', []), snapshots=made.get('snapshots', []))


def _nothing_left(case: Case, spool: pathlib.Path, listed: str) -> str:
    """Once the case's volumes and snapshots are deleted: no orphan (but for one whose name
    ends with ``listed``, of kind temporary, if given), no temporary file; '' or what orphans
    listed, for the matrix."""
    clean_up(case)
    assert not list(spool.iterdir()), 'temporary files left: %s' % list(spool.iterdir())
    leftovers = left_behind(case.cinder)
    for orphan in leftovers:      # so that the next cases start clean
        orphans.delete(vcenter.of(case.cinder.managers['vc'].driver).client, orphan)
    if listed:
        assert [(o.kind, o.name.endswith(listed)) for o in leftovers] == [
            (orphans.Kind.TEMPORARY, True)], 'orphans listed %s' % leftovers
        return '; orphans: %s' % orphans.Kind.TEMPORARY
    assert not leftovers, 'left behind: %s' % leftovers
    return ''


def _rows(case: Case) -> tuple[set[str], set[str]]:
    context = case.context
    return ({v.id for v in objects.VolumeList.get_all(context, filters={'deleted': False})},
            {s.id for s in objects.SnapshotList.get_all(context, filters={'deleted': False})})


def _one_vm_each(case: Case) -> None:
    """No volume or template snapshot of the case has two VMs."""
    client = vcenter.of(case.manager.driver).client
    made = [case.volume, case.snapshot] + case.result
    for item in [i for i in made if i is not None and refresh(i)]:
        found = client.call('FindAllByUuid', client.content.searchIndex, uuid=item.id,
                            vmSearch=True, instanceUuid=True) or []
        assert len(found) <= 1, '%s has %d VMs: %s' % (item.id, len(found),
                                                       [ref.value for ref in found])


def _write(case: Case, object_id: str) -> bytes:
    """Random bytes written to the disk of the VM of ``object_id`` (the simulator's file)."""
    data = os.urandom(256 * 1024)
    _disk_path(case, object_id).write_bytes(data)
    return data


def _disk(case: Case, object_id: str) -> bytes:
    return _disk_path(case, object_id).read_bytes()


def _disk_path(case: Case, object_id: str) -> pathlib.Path:
    client = vcenter.of(case.manager.driver).client
    ref = vcenter.of(case.manager.driver).find(object_id)
    assert ref is not None, '%s has no VM' % object_id
    return disk_file(reader(client), client.ref('VirtualMachine', ref))
