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


"""The VirtualDiskManager: disk files grown and copied server-side, one task each."""

from vmdk_volume.units import KiB


def extend(client, path: str, datacenter: str, size_bytes: int) -> None:
    """Grow the disk at ``path`` ('[ds] dir/file.vmdk' in ``datacenter``, a moref value)
    to ``size_bytes`` (rounded up to KiB), without zeroing the new space."""
    client.run('ExtendVirtualDisk_Task', client.content.virtualDiskManager, name=path,
               datacenter=client.ref('Datacenter', datacenter),
               newCapacityKb=-(-size_bytes // KiB), eagerZero=False)


def copy(client, source_path: str, source_datacenter: str, dest_path: str,
         dest_datacenter: str) -> None:
    """Overwrite the disk at ``dest_path`` with the one at ``source_path`` (converting a
    hosted sparse source)."""
    client.run('CopyVirtualDisk_Task', client.content.virtualDiskManager,
               sourceName=source_path,
               sourceDatacenter=client.ref('Datacenter', source_datacenter),
               destName=dest_path, destDatacenter=client.ref('Datacenter', dest_datacenter),
               force=True)
