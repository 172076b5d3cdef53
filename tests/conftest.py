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

"""Fixtures shared by every test: the simulated vCenter and sessions to it (endpoints from
``tests.vcenter``).

The simulator kit (vmdk-volume-simkit) is imported by the fixtures that use it, so that the
unit tests run without it.
"""

import pathlib

import pytest

from tests.vcenter import endpoint_for
from vmdk_volume.vsphere import session as vsession


@pytest.fixture(scope='session')
def wsdl_dir() -> pathlib.Path:
    """The generated vim25 WSDL (cached across runs)."""
    from vmdk_volume_simkit import build, wsdl
    return wsdl.ensure(build.cache_root() / 'wsdl')


@pytest.fixture(scope='session')
def simulator():
    """One simulated vCenter over TLS for the whole run; tests must not depend on its
    counters without resetting them (use ``soap_calls``)."""
    from vmdk_volume_simkit import Simulator
    with Simulator() as vc:
        yield vc


@pytest.fixture(scope='session')
def vim_session(simulator):
    """An oslo.vmware session to the simulator, logged in over verified TLS."""
    session = vsession.connect(endpoint_for(simulator))
    yield session
    session.logout()


@pytest.fixture
def soap_calls(simulator):
    """The simulator's SOAP counters, reset for this test: call ``soap_calls()``."""
    simulator.reset_stats()
    return simulator.stats
