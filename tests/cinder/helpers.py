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

"""What the Cinder tests share: the connectors Nova and cinder-backup send, and what a test
reads of a driver's vCenter (through the tests' own view, ``tests.vcenter``)."""

import os
import pathlib
import random
import subprocess

from cinder.scheduler import host_manager

from tests import vcenter
from vmdk_volume.core import backend as vbackend
from vmdk_volume.units import MiB
from vmdk_volume.vsphere import properties

NOVA_CONNECTOR = {'host': 'compute-1', 'ip': '10.0.0.5', 'initiator': None}
BRICK_CONNECTOR = {'platform': 'x86_64', 'os_type': 'linux', 'host': 'backup-1',
                   'ip': '10.0.0.9', 'initiator': None}


def vm_to_attach(driver) -> tuple[str, str]:
    """A VM of the driver's simulator to attach to, and the host it runs on."""
    client = vcenter.of(driver).client
    view = properties.container_view(client, client.content.rootFolder, ['VirtualMachine'])
    vm = next(item for item in properties.collect(client, view, {
        'VirtualMachine': ['name', 'runtime.host', 'config.template']})
        if not item.get('config.template') and not item.get('name').startswith('volume-'))
    return vm.value, vm.get('runtime.host').value


def read_backing(driver, volume_id: str) -> properties.Item | None:
    """The backing of a volume as vCenter has it (name, parent, identity, devices,
    datastores), or None."""
    client = vcenter.of(driver).client
    found = client.call('FindAllByUuid', client.content.searchIndex, uuid=volume_id,
                        vmSearch=True, instanceUuid=True)
    if not found:
        return None
    return properties.fetch_one(client, found[0], [
        'name', 'parent', 'config.instanceUuid', 'config.extraConfig', 'config.managedBy',
        'config.hardware.device', 'datastore'])


def folder_path(client, folder) -> str:
    """The path of ``folder`` below its datacenter's "vm" folder."""
    names = []
    while folder._type == 'Folder':
        props = properties.fetch_one(client, folder, ['name', 'parent'])
        names.append(props['name'])
        folder = props['parent']
    return '/'.join(reversed(names[:-1]))


def first_disk(backing_props):
    """The first virtual disk of a backing read by ``read_backing``."""
    return next(d for d in backing_props['config.hardware.device'].VirtualDevice
                if type(d).__name__ == 'VirtualDisk')


def attached_once(cinder, backend: str, **kwargs):
    """An available volume that has a backing (it was attached once)."""
    manager = cinder.managers[backend]
    volume = cinder.create_volume(backend, **kwargs)
    vm, _ = vm_to_attach(manager.driver)
    manager.initialize_connection(cinder.context, volume, dict(NOVA_CONNECTOR, instance=vm))
    volume.refresh()
    return volume


def stream_optimized(tmp_path, name: str) -> tuple[bytes, pathlib.Path]:
    raw = tmp_path / ('%s.raw' % name)
    raw.write_bytes(os.urandom(2 * MiB))
    vmdk = tmp_path / ('%s.vmdk' % name)
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=streamOptimized', str(raw), str(vmdk)], check=True)
    return raw.read_bytes(), vmdk


def volume_bytes(cinder, manager, volume, tmp_path) -> bytes:
    """The volume's disk as raw bytes, uploaded to an image through the manager."""
    upload = cinder.images.create_empty()
    manager.copy_volume_to_image(cinder.context, volume.id, dict(upload))
    back = tmp_path / ('%s.raw' % upload['id'])
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(cinder.images.path(upload['id'])), str(back)], check=True)
    return back.read_bytes()


def scheduler_host(cinder, backend):
    return {'host': 'cinder@%s#%s' % (backend, backend),
            'capabilities': cinder.managers[backend].driver.get_volume_stats()}


def fresh_stats(manager, monkeypatch):
    """The stats as the next stats period reads them (the inventory read afresh)."""
    monkeypatch.setattr(vbackend, 'STATS_MAX_AGE_S', 0)
    return manager.driver.get_volume_stats(refresh=True)


def pools_by_name(stats):
    return {pool['pool_name']: pool for pool in stats['pools']}


def fitting_pools(cinder, manager, size_gb, volume_type=None):
    """The pools Cinder's CapacityFilter passes for a volume of ``size_gb``, fed the
    driver's stats as the scheduler receives them."""
    hosts = host_manager.HostManager()
    hosts.update_service_capabilities('volume', manager.host,
                                      manager.driver.get_volume_stats(), None, None)
    backends = hosts.get_all_backend_states(cinder.context)
    spec = {'volume_properties': {'size': size_gb}, 'volume_id': None}
    passing = hosts.get_filtered_backends(
        [b for b in backends if b.host.startswith(manager.host + '#')],
        {'size': size_gb, 'request_spec': spec, 'volume_type': volume_type or {}},
        ['CapacityFilter'])
    return sorted(b.pool_name for b in passing)


# 1 MiB that does not compress (exports refuse qemu-img's streams of compressible data)
RAW = random.Random(14).randbytes(1024 * 1024)


def disk_file(client, disk) -> pathlib.Path:
    """The simulator's local file of ``disk`` (as a VM's devices have it)."""
    url = properties.fetch_one(client, disk.backing.datastore, ['info.url'])['info.url']
    return pathlib.Path(url) / disk.backing.fileName.split('] ', 1)[1]


def vm_names(client) -> list[str]:
    view = properties.container_view(client, client.content.rootFolder, ['VirtualMachine'])
    return [item.get('name') for item in properties.collect(
        client, view, {'VirtualMachine': ['name']})]
