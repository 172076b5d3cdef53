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

"""What the driver's vCenter user may do: the privileges it needs, asked of vCenter in one call.

``missing`` asks the AuthorizationManager (``HasPrivilegeOnEntities`` for the current session)
which of ``NEEDED`` privileges are not granted on the objects the driver works on.
"""

import dataclasses

# Privileges per kind of object the driver acts on (vSphere privilege ids).
NEEDED = {
    'Folder': ('Folder.Create', 'VirtualMachine.Inventory.Create',
               'VirtualMachine.Inventory.Delete', 'VirtualMachine.Inventory.Move',
               'VirtualMachine.Provisioning.Clone', 'VirtualMachine.Provisioning.MarkAsTemplate',
               'VirtualMachine.Config.AddNewDisk', 'VirtualMachine.Config.DiskExtend',
               'VirtualMachine.State.CreateSnapshot', 'VirtualMachine.State.RemoveSnapshot',
               'VirtualMachine.State.RevertToSnapshot'),
    'Datastore': ('Datastore.AllocateSpace', 'Datastore.FileManagement'),
    'ResourcePool': ('Resource.AssignVMToPool', 'VApp.Import'),
}


@dataclasses.dataclass(frozen=True)
class Missing:
    """Privileges not granted on one object."""

    kind: str          # managed object type
    ref: str           # moref value
    privileges: tuple[str, ...]


def missing(client, objects: list[tuple[str, str]]) -> list[Missing]:
    """The privileges of ``NEEDED`` the session lacks on ``objects`` ((type, moref value) of
    folders, datastores and resource pools): one call."""
    if not objects:
        return []
    refs = [client.ref(kind, value) for kind, value in objects]
    wanted = sorted({p for ref in refs for p in NEEDED[ref._type]})
    granted = client.call('HasPrivilegeOnEntities', client.content.authorizationManager,
                          entity=refs, sessionId=client.session.key, privId=wanted)
    result = []
    for entity in granted or []:
        kind = entity.entity._type
        refused = {a.privId for a in entity.privAvailability or [] if not a.isGranted}
        lacking = tuple(p for p in NEEDED[kind] if p in refused)
        if lacking:
            result.append(Missing(kind, entity.entity.value, lacking))
    return result
