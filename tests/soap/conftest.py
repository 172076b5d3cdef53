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

"""Fixtures for SOAP-level tests: oslo.vmware against a scripted vCenter (requests-mock)."""

import pytest
import requests_mock
from oslo_service import loopingcall

from tests.soap import fake
from vmdk_volume.vsphere import session as vsession


@pytest.fixture
def fake_vc():
    """A ``ScriptedVCenter``; file:// URLs (the WSDL) still reach the real file adapter."""
    with requests_mock.Mocker(real_http=True) as mocker:
        yield fake.ScriptedVCenter(mocker)


@pytest.fixture
def fake_endpoint(wsdl_dir) -> vsession.Endpoint:
    return vsession.Endpoint(host=fake.HOST, username='admin', password='secret',
                             wsdl_location=(wsdl_dir / 'vimService.wsdl').as_uri(),
                             api_retry_count=2)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """oslo.vmware's retries, the same ones, without its 10 s and 20 s pauses between them."""
    monkeypatch.setattr(loopingcall.RetryDecorator.__init__, '__defaults__', (-1, 0.2, 0.5, ()))
