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

Folders are looked up or created level by level (FindChild, then CreateFolder) under a lock
named after the vCenter, the parent and the name, so concurrent creators (threads, or other
cinder-volume processes sharing the coordination backend) make one folder; a creator outside
our locks is tolerated (DuplicateName). Every level is cached per datacenter so a warm driver
spends no call on them. A folder deleted behind our back is noticed by whoever uses it
(``NotFound``); ``forget`` drops it so the next lookup creates it again (``ensure`` does so
itself when a cached level it walks through is gone).

Names are given to vCenter as it stores them (``inventory_name``): a project id or folder option
holding '%', '/' or '\\' is escaped, so FindChild finds what CreateFolder made and no name
is read as a path.
"""

import threading

from vmdk_volume.core import locks as vlocks
from vmdk_volume.vsphere import errors, folder, search_index

ROOT_FOLDER = 'OpenStack'


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

    def ensure(self, vm_folder: str, path: tuple[str, ...]) -> str:
        """The moref value of ``vm_folder/path...``, created where missing; looked up
        afresh once if a cached level was deleted (or vCenter restored) behind our back."""
        try:
            return self._ensure(vm_folder, path)
        except errors.NotFound:
            self.forget(vm_folder)
            return self._ensure(vm_folder, path)

    def _ensure(self, vm_folder: str, path: tuple[str, ...]) -> str:
        parent = vm_folder
        for depth in range(1, len(path) + 1):
            key = (vm_folder, *path[:depth])
            with self._lock:
                cached = self._cache.get(key)
            if cached is None:
                cached = self._find_or_create(parent, path[depth - 1])
                with self._lock:
                    self._cache[key] = cached
            parent = cached
        return parent

    def forget(self, vm_folder: str | None = None) -> None:
        """Drop every cached folder below ``vm_folder`` (one was found deleted), or every
        cached folder."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items()
                           if vm_folder is not None and k[0] != vm_folder}

    def _find_or_create(self, parent: str, name: str) -> str:
        client = self._client
        vcenter = client.content.about.instanceUuid
        with self._locks(vlocks.name('folder', vcenter, parent, name)):
            found = search_index.child(client, parent, name)
            if found is None:
                try:
                    return folder.create(client, parent, name)
                except errors.AlreadyExists:    # made meanwhile by someone outside our locks
                    found = search_index.child(client, parent, name)
        if found is None or found[0] != 'Folder':
            raise errors.VSphereError('cannot use folder %r in %s: %s holds that name'
                                      % (name, parent, found[0] if found else 'nothing'))
        return found[1]
