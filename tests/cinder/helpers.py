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

from tests import vcenter
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
