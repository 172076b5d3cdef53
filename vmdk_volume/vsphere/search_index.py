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


"""The SearchIndex: objects found by UUID, inventory path or name in a folder, one call each,
never by scanning the inventory. Results are moref values."""

TYPE_VM = 'VirtualMachine'


def vms_with_instance_uuid(client, uuid: str) -> list[str]:
    """The VMs (templates included) whose ``instanceUuid`` is ``uuid``: one FindAllByUuid."""
    found = client.call('FindAllByUuid', client.content.searchIndex, uuid=uuid,
                        vmSearch=True, instanceUuid=True) or []
    return [ref.value for ref in found]


def vm_at(client, inventory_path: str) -> str | None:
    """The VM at ``inventory_path`` ('datacenter/vm/folder/name'), or None if nothing or
    something else is there: one FindByInventoryPath."""
    found = client.call('FindByInventoryPath', client.content.searchIndex,
                        inventoryPath=inventory_path)
    return found.value if found is not None and found._type == TYPE_VM else None


def entity_at(client, inventory_path: str) -> tuple[str, str] | None:
    """The (type, moref value) of the entity at ``inventory_path`` (names from the root
    folder as vCenter stores them, '/' between them), or None: one FindByInventoryPath."""
    found = client.call('FindByInventoryPath', client.content.searchIndex,
                        inventoryPath=inventory_path)
    return (found._type, found.value) if found is not None else None


def child(client, folder: str, name: str) -> tuple[str, str] | None:
    """The (type, moref value) of the entity named ``name`` directly in ``folder``, or
    None: one FindChild."""
    found = client.call('FindChild', client.content.searchIndex,
                        entity=client.ref('Folder', folder), name=name)
    return (found._type, found.value) if found is not None else None
