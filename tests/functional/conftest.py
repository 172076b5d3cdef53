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

"""Fixtures for tests against the simulator: a vSphere client, a Backend, and what the image
tests work with (an image of known bytes, a Glance, vmware_tmp_dir, Images); the helpers they
share are in ``helpers``."""

import dataclasses
import os
import pathlib

import pytest
from vmdk_volume_simkit.harness.glance import LocalImages

from tests.functional.helpers import RAW_SIZE, MiB, backend_config, connect, read_inventory
from tests.vcenter import endpoint_for
from vmdk_volume.core.images import service as images
from vmdk_volume.vsphere import client as vclient


@pytest.fixture(scope='session')
def vsphere(simulator):
    """Our vSphere client, logged in to the session simulator over verified TLS."""
    client = vclient.Client.connect(endpoint_for(simulator))
    yield client
    client.close()


@pytest.fixture(scope='session')
def sim_inventory(vsphere):
    return read_inventory(vsphere)


@pytest.fixture(scope='session')
def backend(simulator):
    """A Backend on the session simulator."""
    connected = connect(backend_config(simulator))
    yield connected
    connected.close()


@pytest.fixture(scope='module')
def raw_file(tmp_path_factory) -> pathlib.Path:
    """A raw disk of known random content (with a hole of zeros in the middle)."""
    path = tmp_path_factory.mktemp('images') / 'disk.raw'
    data = bytearray(os.urandom(RAW_SIZE))
    data[MiB:2 * MiB] = bytes(MiB)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def glance(tmp_path) -> LocalImages:
    root = tmp_path / 'glance'
    root.mkdir()
    return LocalImages(root)


@pytest.fixture
def tmp_dir(tmp_path, backend, monkeypatch) -> pathlib.Path:
    """The backend's vmware_tmp_dir for this test (checked empty afterwards)."""
    path = tmp_path / 'vmware_tmp'
    path.mkdir()
    monkeypatch.setattr(backend, 'config', dataclasses.replace(backend.config,
                                                                tmp_dir=str(path)))
    return path


@pytest.fixture
def image_ops(backend) -> images.Images:
    return backend.images()
