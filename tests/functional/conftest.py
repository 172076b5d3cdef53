"""Fixtures for tests against the simulator: a vSphere client and the objects it needs."""

import types

import pytest

from tests.conftest import endpoint_for
from vmdk_volume import backend as vbackend
from vmdk_volume import options
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


def backend_config(vc, **changes) -> options.BackendConfig:
    """The typed config of a backend section pointing at ``vc``, options changed as given."""
    values = {opt.dest: opt.default for opt in options.vmdk_opts}
    values.update(vmware_host_ip=vc.host, vmware_host_port=vc.port,
                  vmware_host_username='admin', vmware_host_password='secret',
                  vmware_ca_file=vc.ca_file, vmware_api_retry_count=2)
    values.update(changes)
    return options.BackendConfig.from_options(types.SimpleNamespace(**values))


@pytest.fixture(scope='session')
def backend(simulator):
    """A Backend on the session simulator."""
    connected = vbackend.Backend.connect(backend_config(simulator))
    yield connected
    connected.close()
