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

"""The service stack (tests/stack/services.py) for the session, two simulated vCenters behind
it, an operator's cinderclient in noauth mode, and the table of timed steps."""

import time

import pytest
from cinder import objects

objects.register_all()  # before tests/cinder's helpers (nova_attach) import Cinder's API

from vmdk_volume_simkit import ModelSize, Simulator  # noqa: E402

from tests.cinder.fixtures import before  # noqa: E402, F401 (the data tests write)
from tests.stack import operations, services  # noqa: E402

STEPS = operations.STEPS


@pytest.fixture(scope='session')
def vcenters():
    services.require_binaries('the service stack')
    with Simulator(ModelSize(hosts=2, datastores=3)) as vc1, \
            Simulator(ModelSize(clusters=2, hosts=1, datastores=2)) as vc2:
        yield {'vc1': vc1, 'vc2': vc2}


@pytest.fixture(scope='session')
def stack(vcenters, tmp_path_factory):
    """The running deployment: vc1 and vc2, and vc1b on vc1's vCenter (one datastore, the
    target of a migration within a vCenter: so with vc1's volume_backend_name, which the
    scheduler then matches for a volume type naming it), each served by both nodes of one
    cluster."""
    vc1, vc2 = vcenters['vc1'], vcenters['vc2']
    deployment = services.Stack(tmp_path_factory.mktemp('stack'), {
        'vc1': services.backend_section(vc1, 'vc1'), 'vc2': services.backend_section(vc2, 'vc2'),
        'vc1b': services.backend_section(vc1, 'vc1b', 'vc1', vmware_datastore_regex='LocalDS_2')})
    with STEPS.step('start the services'):
        deployment.start()
    try:
        with STEPS.step('services up, pools reported'):
            operations.wait_until_serving(operations.client(deployment.api_url), deployment)
        yield deployment
    finally:
        started = time.monotonic()
        deployment.stop()
        STEPS.record('stop the services', time.monotonic() - started)


@pytest.fixture(scope='session')
def cinder(stack):
    """The operator's cinderclient."""
    return operations.client(stack.api_url)


def pytest_terminal_summary(terminalreporter):
    if STEPS.times:
        terminalreporter.write_sep('-', 'service stack: steps and times')
        terminalreporter.write_line(STEPS.table())
