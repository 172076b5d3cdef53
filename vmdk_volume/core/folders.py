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

"""Volume folders: ``<datacenter vmFolder>/OpenStack/Project (<project id>)/<volume folder>``.

A path not cached is first looked up whole, in one call (FindByInventoryPath of
``<datacenter>/vm/<names>``, the datacenter's name as the inventory has it: a datacenter in the
root folder, as most are). If that finds no folder (a level is missing, or the datacenter sits
in a folder of its own), the path is walked level by level (FindChild, then CreateFolder where
missing) under a lock named after the vCenter, the parent and the name, so concurrent creators
(threads, or other cinder-volume processes sharing the coordination backend) make one folder; a
creator outside our locks is tolerated (DuplicateName). What was found is cached per
datacenter so a warm driver spends no call on it, and a lookup starts below the deepest level
cached. A folder deleted behind our back is noticed by whoever uses it (``NotFound``);
``forget`` drops it so the next lookup creates it again (``ensure`` does so itself when a
cached level it walks through is gone).

Names are given to vCenter as it stores them (``inventory_name``): a project id or folder option
holding '%', '/' or '\\' is escaped, so FindChild and FindByInventoryPath find what
CreateFolder made and no name is read as a path.
"""

import threading

from vmdk_volume.core import locks as vlocks
from vmdk_volume.vsphere import errors, folder, search_index
from vmdk_volume.vsphere.inventory import Datacenter

ROOT_FOLDER = 'OpenStack'
VM_FOLDER = 'vm'     # the name of every datacenter's VM folder in inventory paths


def inventory_name(name: str) -> str:
    """``name`` as vCenter stores and matches it: '%', '/' and '\\' escaped as %25, %2f and
    %5c (vCenter escapes them itself in names it is given, which FindChild would then miss)."""
    return name.replace('%', '%25').replace('/', '%2f').replace('\\', '%5c')


def volume_folder_path(project_id: str, volume_folder: str) -> tuple[str, ...]:
    """The folder names below a datacenter's vmFolder for one project's volumes ('/' in
    ``volume_folder`` separates nested folders)."""
    path = (ROOT_FOLDER, inventory_name('Project (%s)' % project_id))
    return path + tuple(inventory_name(name) for name in volume_folder.split('/') if name)


class Folders:
    """Finds or creates folders below datacenters' VM folders, caching what it found."""

    def __init__(self, client, locks: vlocks.Locks | None = None):
        self._client = client
        self._locks = locks or vlocks.LocalLocks()
        self._cache: dict[tuple[str, ...], str] = {}   # (vm folder, *names) -> folder ref
        self._lock = threading.Lock()

    def ensure(self, datacenter: Datacenter, path: tuple[str, ...]) -> str:
        """The moref value of ``path`` below ``datacenter``'s VM folder, created where
        missing; looked up afresh once if a cached level was deleted (or vCenter restored)
        behind our back."""
        try:
            return self._ensure(datacenter, path)
        except errors.NotFound:
            self.forget(datacenter.vm_folder)
            return self._ensure(datacenter, path)

    def _ensure(self, datacenter: Datacenter, path: tuple[str, ...]) -> str:
        """Below the deepest level cached: found whole in one call if two levels or more
        are left (one costs a FindChild anyway), else (or if not found) walked."""
        vm_folder = datacenter.vm_folder
        with self._lock:
            depth = max(d for d in range(len(path) + 1)
                        if d == 0 or (vm_folder, *path[:d]) in self._cache)
            parent = self._cache.get((vm_folder, *path[:depth]), vm_folder)
        if depth == len(path):
            return parent
        found = self._find(datacenter, path) if len(path) - depth > 1 else None
        if found is not None:
            with self._lock:
                self._cache[(vm_folder, *path)] = found
            return found
        return self._walk(vm_folder, path, depth, parent)

    def _find(self, datacenter: Datacenter, path: tuple[str, ...]) -> str | None:
        """The folder at ``path`` if it exists: one FindByInventoryPath."""
        found = search_index.entity_at(self._client,
                                       '/'.join((datacenter.name, VM_FOLDER, *path)))
        return found[1] if found is not None and found[0] == 'Folder' else None

    def _walk(self, vm_folder: str, path: tuple[str, ...], depth: int, parent: str) -> str:
        """The folder at ``path``, found or created level by level below ``parent``, the
        folder of its first ``depth`` levels (below a folder just created, nothing is looked
        for: it holds nothing yet)."""
        made = False
        for level in range(depth + 1, len(path) + 1):
            parent, made = self._find_or_create(parent, path[level - 1], look=not made)
            with self._lock:
                self._cache[(vm_folder, *path[:level])] = parent
        return parent

    def forget(self, vm_folder: str | None = None) -> None:
        """Drop every cached folder below ``vm_folder`` (one was found deleted), or every
        cached folder."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items()
                           if vm_folder is not None and k[0] != vm_folder}

    def _find_or_create(self, parent: str, name: str, look: bool = True) -> tuple[str, bool]:
        """The folder ``name`` in ``parent`` (looked for first if ``look``), and whether it
        was created here."""
        client = self._client
        vcenter = client.content.about.instanceUuid
        with self._locks(vlocks.name('folder', vcenter, parent, name)):
            found = search_index.child(client, parent, name) if look else None
            if found is None:
                try:
                    return folder.create(client, parent, name), True
                except errors.AlreadyExists:    # made meanwhile by someone outside our locks
                    found = search_index.child(client, parent, name)
        if found is None or found[0] != 'Folder':
            raise errors.VSphereError('cannot use folder %r in %s: %s holds that name'
                                      % (name, parent, found[0] if found else 'nothing'))
        return found[1], False
