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


"""Our vCenter extension (``specs.EXTENSION_KEY``), which names backings' ``managedBy``."""

from vmdk_volume.vsphere import errors, specs


def ensure_registered(client, version: str) -> None:
    """Register the extension unless vCenter has it: one FindExtension (and a
    RegisterExtension); another cinder-volume registering it meanwhile is no failure."""
    manager = client.content.extensionManager
    if client.call('FindExtension', manager, extensionKey=specs.EXTENSION_KEY):
        return
    try:
        client.call('RegisterExtension', manager, extension=specs.extension(client, version))
    except errors.Fault as fault:
        if fault.name not in ('AlreadyExists', 'InvalidArgument'):
            raise
