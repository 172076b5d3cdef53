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

"""Nova's attach and detach as Nova drives them (see ``test_nova_attach``), and what tests
read of the instance: the fixtures' helpers (the fixtures are in ``conftest``)."""

import dataclasses

from cinder.api import microversions
from cinder.api.openstack import api_version_request, wsgi
from cinder.api.v3 import attachments as attachments_api
from cinder.api.v3.views import attachments as views

from vmdk_volume.vsphere import properties

GiB = 1024 ** 3


@dataclasses.dataclass(frozen=True)
class Instance:
    """A powered-on VM of the simulator, as Nova knows it (its uuid) and vCenter (moref)."""

    ref: str
    uuid: str
    host: str          # moref value
    host_name: str


def instances(client) -> list[Instance]:
    """The simulator's powered-on VMs that are not backings, by host."""
    view = properties.container_view(client, client.content.rootFolder, ['VirtualMachine'])
    hosts = {item.value: item.get('name') for item in properties.collect(
        client, properties.container_view(client, client.content.rootFolder, ['HostSystem']),
        {'HostSystem': ['name']})}
    return sorted((Instance(item.value, item.get('config.instanceUuid'),
                            item.get('runtime.host').value, hosts[item.get('runtime.host').value])
                   for item in properties.collect(client, view, {'VirtualMachine': [
                       'name', 'runtime.host', 'runtime.powerState', 'config.instanceUuid',
                       'config.template']})
                   if item.get('runtime.powerState') == 'poweredOn'
                   and not item.get('config.template')
                   and not item.get('name').startswith('volume-')), key=lambda i: i.host)


def attach(api, nova, ctx, volume, instance: Instance):
    """Nova's attach flow: attachment_create, its connector, attachment_update, Nova's
    attach_volume, attachment_complete (the REST API's os-complete action, which
    ``cinder.volume.api.API`` lacks: Cinder's attachments controller). The attachment."""
    attachment = api.attachment_create(ctx, volume, instance.uuid)
    connector = nova.connector(instance.uuid)
    assert connector['instance'] == instance.ref
    attachment = api.attachment_update(ctx, attachment, connector)
    connection_info = nova.attach(views.ViewBuilder.detail(attachment, flat=True),
                                  instance.uuid)
    complete(ctx, attachment.id)
    attachment.refresh()
    volume.refresh()
    return Attached(attachment, connection_info, instance)


def complete(ctx, attachment_id: str) -> None:
    """``POST /v3/{project}/attachments/{id}/action {"os-complete": null}`` at microversion
    3.44, as Nova sends it, handled by Cinder's own attachments controller."""
    request = wsgi.Request.blank('/v3/%s/attachments/%s/action' % (ctx.project_id,
                                                                   attachment_id))
    request.environ['cinder.context'] = ctx
    request.api_version_request = api_version_request.APIVersionRequest(
        microversions.NEW_ATTACH_COMPLETION)
    attachments_api.AttachmentsController().complete(request, attachment_id,
                                                     body={'os-complete': None})


@dataclasses.dataclass(frozen=True)
class Attached:
    """An attachment, the connection info Nova keeps for it, and its instance."""

    attachment: object
    connection_info: dict
    instance: Instance

    @property
    def backing(self) -> str:
        return self.connection_info['data']['volume']


def detach(api, nova, ctx, volume, attached: Attached) -> None:
    """Nova's detach flow: Nova's detach_volume, then attachment_delete."""
    nova.detach(attached.connection_info, attached.instance.uuid)
    api.attachment_delete(ctx, attached.attachment)
    volume.refresh()


def disks(client, ref: str) -> list:
    devices = properties.fetch_one(client, client.ref('VirtualMachine', ref),
                                   ['config.hardware.device'])['config.hardware.device']
    return [d for d in devices.VirtualDevice if type(d).__name__ == 'VirtualDisk']


def volume_disk(client, ref: str, volume_id: str):
    """The disk of VM ``ref`` whose uuid is the volume's, or None."""
    return next((d for d in disks(client, ref)
                 if getattr(d.backing, 'uuid', '').lower() == volume_id.lower()), None)


def extra_config(client, ref: str) -> dict:
    return properties.options(properties.fetch_one(
        client, client.ref('VirtualMachine', ref), ['config.extraConfig'])['config.extraConfig'])


def datastore_of(client, disk):
    ref = disk.backing.datastore
    return ref.value, properties.fetch_one(client, ref, ['name'])['name']


def storage_vmotion(client, inventory, instance: Instance, volume):
    """Move the instance's disks to another datastore its host mounts; the volume's disk as
    the instance now has it."""
    before = volume_disk(client, instance.ref, volume.id)
    target = next(ref for ref, store in inventory.datastores.items()
                  if ref != before.backing.datastore.value
                  and instance.host in store.usable_hosts())
    client.run('RelocateVM_Task', client.ref('VirtualMachine', instance.ref),
               spec=client.create('VirtualMachineRelocateSpec',
                                  datastore=client.ref('Datastore', target)))
    moved = volume_disk(client, instance.ref, volume.id)
    assert moved.backing.fileName != before.backing.fileName
    return moved
