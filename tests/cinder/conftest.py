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

"""Fixtures for Cinder integration: two simulated vCenters behind two backend sections, and
Cinder's volume API with a nova-compute child for attaching as Nova does (``nova_attach``)."""

import pytest
from cinder import objects

objects.register_all()     # before any test module imports cinder.volume.manager

from cinder.compute import nova as _nova_api  # noqa: E402, F401 - registers Cinder's [nova] options
from cinder.volume import configuration, manager  # noqa: E402
from oslo_config import cfg  # noqa: E402
from vmdk_volume_simkit import ModelSize, Simulator  # noqa: E402
from vmdk_volume_simkit.harness.cinder import Cinder  # noqa: E402

from tests import vcenter  # noqa: E402
from tests.cinder.fixtures import api, before, service_context  # noqa: E402, F401
from tests.cinder.helpers import BRICK_CONNECTOR  # noqa: E402
from tests.cinder.nova_compute import NovaCompute  # noqa: E402
from vmdk_volume.driver import VMwareVcVmdkDriver  # noqa: E402


@pytest.fixture(scope='session')
def vcenters():
    with Simulator(ModelSize(hosts=2, datastores=3)) as vc1, \
            Simulator(ModelSize(clusters=2, hosts=1, datastores=2)) as vc2:
        yield {'vc1': vc1, 'vc2': vc2}


@pytest.fixture(scope='session')
def cinder(vcenters, tmp_path_factory):
    # vc1 keeps snapshots as templates (the default), vc2 as VM snapshots; vc1b is a second
    # backend on vc1's vCenter, limited to one datastore (driver-assisted migration).
    harness = Cinder(tmp_path_factory.mktemp('cinder'), dict(vcenters, vc1b=vcenters['vc1']),
                     {'vc2': {'vmware_snapshot_format': 'COW'},
                      'vc1b': {'vmware_datastore_regex': 'LocalDS_2'}})
    for volume_manager in harness.managers.values():
        vcenter.of(volume_manager.driver)     # the tests' own sessions, before any count
    yield harness
    harness.stop()


@pytest.fixture
def driver_for(vcenters, cinder):
    """A driver for a fresh backend section, vc1's options changed as given."""
    overrides = []

    def make(**options):
        group = 'setup-%d' % len(overrides)
        conf = configuration.Configuration(manager.volume_backend_opts, config_group=group)
        driver = VMwareVcVmdkDriver(configuration=conf)
        vc = vcenters['vc1']
        settings = dict(vmware_host_ip=vc.host, vmware_host_port=vc.port,
                        vmware_host_username='admin', vmware_host_password='secret',
                        vmware_ca_file=vc.ca_file)
        settings.update(options)
        for name, value in settings.items():
            cfg.CONF.set_override(name, value, group=group)
            overrides.append((name, group))
        return driver
    yield make
    for name, group in overrides:
        cfg.CONF.clear_override(name, group=group)


@pytest.fixture(scope='module')
def nova(vcenters):
    compute = NovaCompute(vcenters['vc1'])
    yield compute
    compute.close()


@pytest.fixture
def backup_connection(cinder, tmp_path):
    """``connect(volume)``: vc1's connection info as cinder-backup gets it for os-brick, with
    the driver's credentials (vmware_connector_credentials) and ``tmp_path`` as
    vmware_tmp_dir."""
    overrides = {'vmware_connector_credentials': True, 'vmware_tmp_dir': str(tmp_path)}

    def connect(volume):
        for name, value in overrides.items():
            cfg.CONF.set_override(name, value, group='vc1')
        try:
            return cinder.managers['vc1'].initialize_connection(cinder.context, volume,
                                                                BRICK_CONNECTOR)
        finally:
            for name in overrides:
                cfg.CONF.clear_override(name, group='vc1')
    return connect


@pytest.fixture
def client(cinder):
    return vcenter.of(cinder.managers['vc1'].driver).client
