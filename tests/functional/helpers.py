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

"""What the tests against the simulator share (their fixtures are in ``conftest``): backend
configurations and cinder.conf files, backing requests, images converted and exported, the
marks a VM carries."""

import pathlib
import subprocess
import textwrap
import types
import uuid

from vmdk_volume_simkit import Simulator

from vmdk_volume.core import backend as vbackend
from vmdk_volume.core import backings, placement, volume_type, wiring
from vmdk_volume.core import locks as vlocks
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import formats, importer
from vmdk_volume.core.images.service import Images
from vmdk_volume.driver import options
from vmdk_volume.vsphere import inventory as vinventory
from vmdk_volume.vsphere import inventory_watch, properties, specs

MiB = 1024 ** 2
GiB = 1024 ** 3
RAW_SIZE = 4 * MiB


def qemu_img(*args):
    """Run qemu-img (its output captured)."""
    subprocess.run(['qemu-img', *args], check=True, capture_output=True)


def converted(raw: pathlib.Path, fmt: str, *options: str) -> pathlib.Path:
    """``raw`` converted to ``fmt`` with qemu-img's ``options`` (made once)."""
    out = raw.with_name('%s-%s.%s' % (raw.stem, '-'.join(options) or 'plain', fmt))
    if not out.exists():
        extra = ['-o', ','.join(options)] if options else []
        qemu_img('convert', '-f', 'raw', '-O', fmt, *extra, str(raw), str(out))
    return out


def request_for(size=GiB, **specs) -> backings.BackingRequest:
    """A request for a backing of a new volume id, of a type with extra specs ``specs``."""
    volume_id = str(uuid.uuid4())
    return backings.BackingRequest(volume_id=volume_id, name='volume-' + volume_id,
                                   size_bytes=size, profile=volume_type.parse(specs))


def image_data(glance, image_id) -> importer.ImageData:
    """What the image service reads of a Glance image."""
    meta = formats.ImageMeta.from_glance(glance.show(None, image_id))
    return importer.ImageData(meta, lambda: glance.download(None, image_id))


def export_to_raw(image_ops, ref, size, glance, tmp_path) -> bytes:
    """The backing's disk, exported over NFC into a Glance image, converted to raw."""
    image = glance.create_empty()
    image_ops.export(ref, size, lambda data: glance.update(None, image['id'], {}, data=data),
                     'test')
    raw = tmp_path / ('%s.raw' % image['id'])
    qemu_img('convert', '-f', 'vmdk', '-O', 'raw', str(glance.path(image['id'])), str(raw))
    return raw.read_bytes()


def assert_holds_image(exported: bytes, raw_file: pathlib.Path, tmp_dir: pathlib.Path):
    """The exported disk starts with the image's bytes, zeros after; no temporary file."""
    assert exported[:RAW_SIZE] == raw_file.read_bytes()
    assert not exported[RAW_SIZE:].strip(b'\0')
    assert list(tmp_dir.iterdir()) == []


def vms_named(backend, name) -> list:
    """The VMs named ``name``."""
    view = properties.container_view(backend.client, backend.client.content.rootFolder,
                                     ['VirtualMachine'])
    return [item for item in properties.collect(backend.client, view,
                                                {'VirtualMachine': ['name']})
            if item.get('name') == name]


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
    use: the one place where the functional tests follow the product's wiring. The Backend's
    client and the part of it tests look at (inventory, placement, pools, policies) are named
    here; ``provisioner`` makes, files and reaches backings; ``config`` sets the Backend's."""

    def __init__(self, backend: vbackend.Backend):
        self._product, self.locks = backend, vlocks.LocalLocks()
        self.client = backend.client
        services = wiring.wire(backend, self.locks)
        self.backings, self.manage = services.backings, services.manager
        self.mover, self.policies = services.mover, services.policies
        self.provisioner = services.provisioner

    @property
    def config(self) -> BackendConfig:
        return self._product.config

    @config.setter
    def config(self, value: BackendConfig) -> None:
        self._product.config = value

    def inventory(self, refresh: bool = False) -> vinventory.Inventory:
        return self._product.inventory(refresh)

    def current_inventory(self) -> vinventory.Inventory:
        return self._product.current_inventory()

    def placement_request(self, size_bytes: int, host: str | None = None
                          ) -> placement.PlacementRequest:
        return self._product.placement_request(size_bytes, host)

    def place(self, request: placement.PlacementRequest) -> placement.Placement:
        return self._product.place(request)

    def pools(self, single: str | None = None, refresh: bool = False) -> list:
        return self._product.pools(single, refresh)

    def compatible_datastores(self, profile_id: str) -> frozenset[str]:
        return self._product.compatible_datastores(profile_id)

    def close(self) -> None:
        self._product.close()

    def describe(self, ref: str, identity=None) -> backings.Backing:
        return self.backings.describe(ref, identity)

    def create_backing(self, request: backings.BackingRequest, project_id: str,
                       instance: str | None = None) -> str:
        return self.provisioner.create(request, project_id, instance).ref

    def clone_backing(self, source: backings.Backing, request: backings.BackingRequest,
                      project_id: str, **kwargs) -> str:
        return self.provisioner.clone(source, request, project_id, **kwargs).ref

    def images(self) -> Images:
        """A new image service over this backend and its locks, as another process (or this
        one after a restart) wires one."""
        return wiring.wire(self._product, self.locks).images


def connect(config: BackendConfig) -> Wired:
    """``Backend.connect`` and its wiring (see ``Wired``)."""
    return Wired(vbackend.Backend.connect(config))


def read_inventory(client) -> vinventory.Inventory:
    """The inventory as a watch of its own reads it first (the watch then closed)."""
    watch = inventory_watch.InventoryWatch(client)
    try:
        return watch.refresh()
    finally:
        watch.close()
