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

"""The cinder-volume processes of the crash column (test_crash.py): each a VolumeManager with
our driver for one backend section of the fault suite (as cinder-volume runs one process per
backend), on the suite's database and images, with the locks of the case's processes.

Each process is started before the case is set up (Python and Cinder's modules take
seconds to load), says ``ready`` and reads the case's request from stdin. ``run``: a
cinder-volume started already does the operation (of ``operations.OPERATIONS``) on what the
test made; the test kills it while the fault proxy holds the operation's step. ``restart``:
once that one is dead, cinder-volume starts (its cinder.conf, VolumeManager and
``init_host``: the driver's ``do_setup``, then Cinder's clean-up of what was left
mid-operation), then does what a user or operator does next: what Cinder put in ``error`` is
deleted, a volume left ``retyping`` (Cinder does not clean that status up) is reset to its
previous status as ``cinder reset-state`` would, and the operation is done again; its results'
ids and the statuses init_host left are printed as JSON. Run as
``python -m tests.reliability.crashing run|restart <process>``.
"""

import json
import pathlib
import sys
import types


def _case(harness, request: dict):
    from cinder import objects

    from tests.reliability.operations import Case
    for meta in request['images']:
        harness.images.images[meta['id']] = meta
    case = Case(harness, request['backend'], pathlib.Path(request['tmp']),
                image_id=request['image_id'], unmanaged=request['unmanaged'])
    if request['raw']:
        case.raw = pathlib.Path(request['raw'])
    if request['volume']:
        case.volume = objects.Volume.get_by_id(harness.context, request['volume'])
    if request['snapshot']:
        case.snapshot = objects.Snapshot.get_by_id(harness.context, request['snapshot'])
    return case


def _left(harness, request: dict) -> tuple[list, list]:
    """The volumes and snapshots the killed run made, as init_host left them."""
    from cinder import objects
    context = harness.context
    volumes = [objects.Volume.get_by_id(context, i) for i in request['volumes']]
    snapshots = [objects.Snapshot.get_by_id(context, i) for i in request['snapshots']]
    return volumes, snapshots


def _recover(case, volumes: list, snapshots: list) -> None:
    """Delete what is in error; a volume left retyping goes back to its previous status."""
    manager, context = case.manager, case.context
    for snapshot in snapshots:
        if snapshot.status == 'error':
            manager.delete_snapshot(context, snapshot)
    for volume in volumes:
        if volume.status == 'error':
            manager.delete_volume(context, volume)
        elif volume.status == 'retyping':
            volume.status = volume.previous_status or 'available'
            volume.save()


def _again(case, operation, volumes: list) -> None:
    """The operation again: a first attach on the volumes it made, else anew."""
    from tests.reliability import operations
    if operation.name == 'create+attach':
        for volume in volumes:
            volume.refresh()
            operations.attach(case, volume)
            case.result.append(volume)
        return
    if case.volume is not None:
        case.volume.refresh()
    operation.run(case)


def _harness(process: dict):
    """Cinder with the process's backend, on the shared database and images."""
    from vmdk_volume_simkit.harness.cinder import Cinder
    from vmdk_volume_simkit.harness.glance import LocalImages
    vc = types.SimpleNamespace(**process['vc'])
    workdir, shared = pathlib.Path(process['workdir']), pathlib.Path(process['shared'])
    workdir.mkdir(exist_ok=True)
    backend = process['backend']
    harness = Cinder(workdir, {backend: vc}, {backend: process['options']},
                     database=shared / 'cinder.db')
    harness.images = LocalImages(shared / 'images')
    return harness


def _restart(process: dict, request: dict) -> dict:
    """cinder-volume started again, what it left recovered and the operation done again:
    the statuses init_host left, and what the operation made or worked on."""
    harness = _harness(process)
    try:
        case = _case(harness, request)
        volumes, snapshots = _left(harness, request)
        statuses = sorted({item.status for item in (volumes + snapshots)
                           or [case.volume]})
        _recover(case, volumes + [case.volume] if case.volume else volumes, snapshots)
        _again(case, _operation(request), volumes)
        return {'statuses': statuses,
                'result': [[type(item).__name__, item.id] for item in case.result]}
    finally:
        harness.stop()


def _operation(request: dict):
    from tests.reliability.operations import OPERATIONS
    return next(op for op in OPERATIONS if op.name == request['operation'])


def main(phase: str, process: dict) -> None:
    """Get ready (``run``: cinder-volume started too), say so, read the case's request
    from stdin and act on it."""
    from cinder import objects
    objects.register_all()
    import cinder.volume.manager  # noqa: F401 - what Cinder's start imports, before the case

    import tests.reliability.operations  # noqa: F401
    harness = _harness(process) if phase == 'run' else None
    print('ready', flush=True)
    request = json.loads(sys.stdin.readline())
    if harness is None:
        print(json.dumps(_restart(process, request)), flush=True)
    else:
        _operation(request).run(_case(harness, request))     # killed at its step


if __name__ == '__main__':
    main(sys.argv[1], json.loads(sys.argv[2]))
