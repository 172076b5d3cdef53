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

"""The fault suite's world: one simulated vCenter behind the fault proxy, Cinder's
VolumeManager with two backends on it (template and COW snapshots), and the matrix of
outcomes, printed at the end of the run whatever ``-s`` says.

Run it on its own (``pytest tests/reliability``): Cinder's configuration is process-global,
so it cannot share a run with tests/cinder.
"""

import collections

import pytest
from cinder import objects

objects.register_all()     # before any test module imports cinder.volume.manager

from oslo_service import loopingcall  # noqa: E402
from vmdk_volume_simkit import ModelSize  # noqa: E402
from vmdk_volume_simkit.faults import FaultProxy  # noqa: E402
from vmdk_volume_simkit.harness.cinder import Cinder  # noqa: E402

# oslo.vmware waits 10 s, then 20 s... between retries of a failed call: keep the behaviour
# (the same retries) at a pace the matrix can afford.
loopingcall.RetryDecorator.__init__.__defaults__ = (-1, 0.2, 0.5, ())

API_TIMEOUT_S = 2
MATRIX: dict[str, dict[str, str]] = collections.defaultdict(dict)


@pytest.fixture(scope='session')
def proxy(tmp_path_factory):
    with FaultProxy(tmp_path_factory.mktemp('proxy'),
                    ModelSize(hosts=2, datastores=2, vms=1)) as fault_proxy:
        yield fault_proxy


@pytest.fixture(scope='session')
def spool(tmp_path_factory):
    """The backends' vmware_tmp_dir (the matrix checks it empty after each case)."""
    return tmp_path_factory.mktemp('spool')


@pytest.fixture(scope='session')
def backends(spool) -> dict[str, dict[str, str]]:
    """The options of each backend section (all on the one simulator)."""
    common = {'vmware_api_retry_count': '3', 'vmware_api_timeout_secs': str(API_TIMEOUT_S),
              'vmware_tmp_dir': str(spool)}
    return {'vc': common, 'cow': dict(common, vmware_snapshot_format='COW')}


@pytest.fixture(scope='session')
def cinder(proxy, backends, tmp_path_factory):
    harness = Cinder(tmp_path_factory.mktemp('cinder'), dict.fromkeys(backends, proxy),
                     backends)
    yield harness
    harness.stop()


@pytest.fixture
def record():
    """Call ``record(operation, fault, outcome)`` to fill the matrix."""
    def _record(operation: str, fault: str, outcome: str) -> None:
        MATRIX[operation][fault] = outcome
    return _record


def pytest_terminal_summary(terminalreporter):
    if not MATRIX:
        return
    faults = list(dict.fromkeys(f for row in MATRIX.values() for f in row))
    width = max(len(op) for op in MATRIX) + 2
    widths = {f: max(19, len(f) + 2, *(len(row.get(f, '')) + 2 for row in MATRIX.values()))
              for f in faults}
    terminalreporter.section('fault matrix (operation x fault -> outcome)')
    terminalreporter.write_line(''.ljust(width) + ''.join(f.ljust(widths[f]) for f in faults))
    for operation, row in MATRIX.items():
        terminalreporter.write_line(operation.ljust(width) + ''.join(
            row.get(f, '-').ljust(widths[f]) for f in faults))
