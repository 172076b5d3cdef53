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

"""The service stack (tests/stack/services.py) with Keystone in front of cinder-api, two
simulated vCenters behind it, and Tempest's run against it, once for the session; the steps'
times and Tempest's counts are printed at the end."""

import concurrent.futures
import time

import pytest
from cinderclient import client as cinder_client
from vmdk_volume_simkit import ModelSize, Simulator

from tests.stack import operations, services
from tests.tempest import keystone, runner, venvs

STEPS = operations.Steps()
RESULTS: list[runner.Results] = []


@pytest.fixture(scope='session')
def virtualenvs():
    """Keystone's and Tempest's virtualenvs (made on first use, then cached)."""
    services.require_binaries('the Tempest stage')
    names = ('keystone', 'tempest')
    with STEPS.step('Keystone and Tempest virtualenvs'), \
            concurrent.futures.ThreadPoolExecutor() as pool:     # pip waits mostly
        return dict(zip(names, pool.map(venvs.virtualenv, (
            venvs.HERE / ('%s-requirements.txt' % name) for name in names)), strict=True))


@pytest.fixture(scope='session')
def deployment(virtualenvs, tmp_path_factory):
    """The stack with ``auth_strategy = keystone``, Keystone on its MariaDB, serving."""
    workdir = tmp_path_factory.mktemp('tempest-stack')
    identity = keystone.Keystone(virtualenvs['keystone'], workdir)
    with Simulator(ModelSize(hosts=2, datastores=3)) as vc1, \
            Simulator(ModelSize(clusters=2, hosts=1, datastores=2)) as vc2:
        stack = services.Stack(workdir, {'vc1': services.backend_section(vc1, 'vc1'),
                                         'vc2': services.backend_section(vc2, 'vc2')},
                               auth_strategy='keystone',
                               sections={'keystone_authtoken': identity.authtoken()})
        try:
            with STEPS.step('start the services'):
                stack.start()
            with STEPS.step('Keystone: database, keys, bootstrap, serving'):
                identity.start(stack.create_database('keystone', keystone.DB_PASSWORD),
                               stack.api_url)
            with STEPS.step('services up, pools reported (through Keystone)'):
                operations.wait_until_serving(cinder_client.Client(
                    operations.API_VERSION, session=identity.admin_session()), stack)
            yield stack, identity
        finally:
            started = time.monotonic()
            identity.stop()
            stack.stop()
            STEPS.record('stop the services', time.monotonic() - started)


@pytest.fixture(scope='session')
def tempest(virtualenvs, deployment):
    stack, identity = deployment
    with STEPS.step('tempest init, tempest.conf'):
        return runner.Tempest(virtualenvs['tempest'], stack.workdir).init(
            identity.url, list(stack.backends))


@pytest.fixture(scope='session')
def results(tempest):
    with STEPS.step('tempest run'):
        RESULTS.append(tempest.run())
    return RESULTS[-1]


def pytest_terminal_summary(terminalreporter):
    if STEPS.times:
        terminalreporter.write_sep('-', 'Tempest stage: steps and times')
        terminalreporter.write_line(STEPS.table())
    for outcome in RESULTS:
        terminalreporter.write_sep('-', 'Tempest: %s' % outcome.summary())
        for test in outcome.failed():
            terminalreporter.write_line('failed: %s' % test)
