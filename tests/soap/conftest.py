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
