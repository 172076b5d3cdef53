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

"""Virtual disk files on datastores: listed with the datastore browser, one search task per
datastore, and deleted (descriptor and extents) with the VirtualDiskManager."""

import re

from vmdk_volume.vsphere import errors

_PATH = re.compile(r'^\[([^\]]+)\]\s*(.*)$')


def normalize(path: str) -> str:
    """``[datastore] dir/file`` whatever spacing and slashes vCenter wrote it with."""
    match = _PATH.match(path)
    if match is None:
        return path
    return '[%s] %s' % (match.group(1), '/'.join(p for p in match.group(2).split('/') if p))


def disks(client, browser, datastore_name: str) -> dict:
    """The (normalized) path of every VMDK descriptor on a datastore, in any folder, without
    their extents, and when it was last modified (a datetime, None if vCenter does not say):
    one SearchDatastoreSubFolders task on the datastore's ``browser``."""
    spec = client.create('HostDatastoreBrowserSearchSpec', matchPattern=['*.vmdk'],
                         query=[client.create('VmDiskFileQuery')],
                         details=client.create('FileQueryFlags', modification=True,
                                               fileType=False, fileSize=False,
                                               fileOwner=False))
    found = client.run('SearchDatastoreSubFolders_Task', browser,
                       datastorePath='[%s]' % datastore_name, searchSpec=spec)
    results = getattr(found, 'HostDatastoreBrowserSearchResults', None) or []
    return {normalize('%s/%s' % (result.folderPath, info.path)):
            getattr(info, 'modification', None)
            for result in results for info in getattr(result, 'file', None) or []}


def delete_disk(client, path: str, datacenter: str) -> bool:
    """Delete the disk at ``path`` in ``datacenter`` (moref value); False if it was gone."""
    try:
        client.run('DeleteVirtualDisk_Task', client.content.virtualDiskManager, name=path,
                   datacenter=client.ref('Datacenter', datacenter))
    except errors.NotFound:
        return False
    return True
