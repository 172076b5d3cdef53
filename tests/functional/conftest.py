"""Fixtures for tests against the simulator: a vSphere client and the objects it needs."""

import pytest

from tests.conftest import endpoint_for
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import inventory, properties


@pytest.fixture(scope='session')
def vsphere(simulator):
    """Our vSphere client, logged in to the session simulator over verified TLS."""
    client = vclient.Client.connect(endpoint_for(simulator))
    yield client
    client.close()


@pytest.fixture(scope='session')
def sim_inventory(vsphere):
    view = properties.container_view(vsphere, vsphere.content.rootFolder, inventory.VIEW_TYPES)
    return inventory.read(vsphere, view)
