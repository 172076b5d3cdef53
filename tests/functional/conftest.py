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

"""Fixtures for tests against the simulator: a vSphere client and the objects it needs."""

import pathlib
import textwrap
import types

import pytest
from vmdk_volume_simkit import Simulator

from tests.conftest import endpoint_for
from vmdk_volume.core import backend as vbackend
from vmdk_volume.core import locks as vlocks
from vmdk_volume.core import wiring
from vmdk_volume.core.backings import Backing, BackingRequest
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images.service import Images
from vmdk_volume.driver import options
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import inventory_watch, properties, specs


@pytest.fixture(scope='session')
def vsphere(simulator):
    """Our vSphere client, logged in to the session simulator over verified TLS."""
    client = vclient.Client.connect(endpoint_for(simulator))
    yield client
    client.close()


@pytest.fixture(scope='session')
def sim_inventory(vsphere):
    watch = inventory_watch.InventoryWatch(vsphere)
    try:
        return watch.refresh()
    finally:
        watch.close()


def marks(client, ref: str) -> dict[str, str]:
    """The ``cinder.*`` extraConfig marks the VM ``ref`` carries."""
    props = properties.fetch_one(client, client.ref('VirtualMachine', ref),
                                 ['config.extraConfig'])
    options = properties.options(props.get('config.extraConfig'))
    return {key: value for key, value in options.items() if key.startswith('cinder.')}


def plant_image_marks(client, ref: str) -> None:
    """Give the VM ``ref`` the image-cache marks, as a clone from an image-cache template made
    by an earlier release carries them."""
    client.run('ReconfigVM_Task', client.ref('VirtualMachine', ref), spec=client.create(
        'VirtualMachineConfigSpec', extraConfig=[
            client.create('OptionValue', key=key, value=value)
            for key, value in specs.image_marks('an-image', 'md5:0').items()]))


def backend_config(vc, **changes) -> BackendConfig:
    """The typed config of a backend section pointing at ``vc``, options changed as given."""
    values = {opt.dest: opt.default for opt in options.vmdk_opts}
    values.update(vmware_host_ip=vc.host, vmware_host_port=vc.port,
                  vmware_host_username='admin', vmware_host_password='secret',
                  vmware_ca_file=vc.ca_file, vmware_api_retry_count=2)
    values.update(changes)
    return BackendConfig.from_options(types.SimpleNamespace(**values))


def write_conf(path: pathlib.Path, vc: Simulator, **changes) -> pathlib.Path:
    """A cinder.conf with one backend 'vc' on ``vc``, options changed as given (a list
    value repeats the option)."""
    values = dict(volume_driver='vmdk_volume.driver.VMwareVcVmdkDriver',
                  volume_backend_name='vc', vmware_host_ip=vc.host,
                  vmware_host_port=vc.port, vmware_host_password='secret',
                  vmware_ca_file=vc.ca_file, vmware_api_retry_count=0)
    values.update(changes)
    conf = path / 'cinder.conf'
    conf.write_text(textwrap.dedent('''
        [DEFAULT]
        enabled_backends = lvm,vc
        [backend_defaults]
        vmware_host_username = admin
        [lvm]
        volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
        [vc]
        ''') + ''.join('%s = %s\n' % (name, value) for name, given in values.items()
                       for value in (given if isinstance(given, list) else [given])))
    return conf


class Wired:
    """A connected ``Backend`` and what ``wiring.wire`` gives it, under the names these tests
    used when the Backend built its collaborators itself: the one place where the tests follow
    the product's wiring. The Backend's own methods (inventory, placement, pools, client) and
    the provisioner's are reached as attributes; ``config`` sets the Backend's."""

    def __init__(self, backend: vbackend.Backend):
        self._backend, self.locks = backend, vlocks.LocalLocks()
        self._services = services = wiring.wire(backend, self.locks)
        self.backings, self.manage = services.backings, services.manager
        self.mover, self.policies = services.mover, services.policies

    def __getattr__(self, name: str):
        provisioner = self._services.provisioner
        return getattr(provisioner if hasattr(provisioner, name) else self._backend, name)

    @property
    def config(self) -> BackendConfig:
        return self._backend.config

    @config.setter
    def config(self, value: BackendConfig) -> None:
        self._backend.config = value

    def describe(self, ref: str, identity=None) -> Backing:
        return self.backings.describe(ref, identity)

    def create_backing(self, request: BackingRequest, project_id: str,
                       instance: str | None = None) -> str:
        return self._services.provisioner.create(request, project_id, instance).ref

    def clone_backing(self, source: Backing, request: BackingRequest, project_id: str,
                      **kwargs) -> str:
        return self._services.provisioner.clone(source, request, project_id, **kwargs).ref

    def images(self) -> Images:
        """A new image service over this backend and its locks, as another process (or this
        one after a restart) wires one."""
        return wiring.wire(self._backend, self.locks).images


def connect(config: BackendConfig) -> Wired:
    """``Backend.connect`` and its wiring (see ``Wired``)."""
    return Wired(vbackend.Backend.connect(config))


@pytest.fixture(scope='session')
def backend(simulator):
    """A wired Backend on the session simulator."""
    connected = connect(backend_config(simulator))
    yield connected
    connected.close()
