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


"""Virtual machines and their snapshots: the VirtualMachine and VirtualMachineSnapshot
methods the driver calls, each one call (a task awaited through ``Client.run``).

Objects are named by moref value; what a method returns is a moref value too, so no caller
outside this package handles a managed object reference.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from vmdk_volume.vsphere import properties

TYPE = 'VirtualMachine'
SNAPSHOT_TYPE = 'VirtualMachineSnapshot'


def create_vm(client, *, folder: str, config, pool: str, host: str) -> str:
    """Create a VM from ``config`` (a VirtualMachineConfigSpec) in ``folder`` on ``pool``
    and ``host``: one CreateVM task; the VM's moref value."""
    return client.run('CreateVM_Task', client.ref('Folder', folder), config=config,
                      pool=client.ref('ResourcePool', pool),
                      host=client.ref('HostSystem', host)).value


def read_all(client, values: Sequence[str], paths: Iterable[str]) -> list[properties.Item]:
    """``paths`` of those of the VMs ``values`` that exist: one call (``errors.NotFound``
    if vCenter refuses the read because one is gone)."""
    return properties.fetch(client, [client.ref(TYPE, value) for value in values], paths)


class VirtualMachine:
    """One VM or template, by moref value."""

    def __init__(self, client, value: str):
        self._client = client
        self.value = value
        self._ref = client.ref(TYPE, value)

    def read(self, paths: Iterable[str]) -> Mapping[str, Any]:
        """Read ``paths`` (those that are set); {} if the VM is gone: one call."""
        return properties.fetch_one(self._client, self._ref, paths)

    def watch(self, path: str, done: Callable[[Any], bool], timeout_s: float) -> Any:
        """Watch ``path`` until ``done(value)`` holds: that value, or None after
        ``timeout_s`` (``properties.wait_for``)."""
        return properties.wait_for(self._client, self._ref, path, done, timeout_s)

    def reconfigure(self, spec) -> None:
        """Apply a VirtualMachineConfigSpec (built by ``specs``)."""
        self._client.run('ReconfigVM_Task', self._ref, spec=spec)

    def relocate(self, spec) -> None:
        """Move the VM (and its disks, as ``spec``'s locators say)."""
        self._client.run('RelocateVM_Task', self._ref, spec=spec)

    def clone(self, *, folder: str, name: str, spec) -> str:
        """A copy named ``name`` in ``folder`` as ``spec`` says; its moref value."""
        return self._client.run('CloneVM_Task', self._ref,
                                folder=self._client.ref('Folder', folder), name=name,
                                spec=spec).value

    def move_to(self, folder: str) -> None:
        """Move the VM into ``folder``."""
        self._client.run('MoveIntoFolder_Task', self._client.ref('Folder', folder),
                         list=[self._ref])

    def destroy(self) -> None:
        """Destroy the VM and its disks."""
        self._client.run('Destroy_Task', self._ref)

    def mark_as_template(self) -> None:
        self._client.call('MarkAsTemplate', self._ref)

    def create_snapshot(self, name: str, description: str = '') -> str:
        """A snapshot of the disks without memory or quiescing; its moref value."""
        return self._client.run('CreateSnapshot_Task', self._ref, name=name,
                                description=description, memory=False, quiesce=False).value


class Snapshot:
    """One VM snapshot, by moref value."""

    def __init__(self, client, value: str):
        self._client = client
        self.value = value
        self._ref = client.ref(SNAPSHOT_TYPE, value)

    def remove(self) -> None:
        """Remove the snapshot alone (not its children), consolidating its delta disk."""
        self._client.run('RemoveSnapshot_Task', self._ref, removeChildren=False,
                         consolidate=True)

    def revert(self) -> None:
        """Bring the VM back to this snapshot."""
        self._client.run('RevertToSnapshot_Task', self._ref)
