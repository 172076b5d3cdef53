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

"""qemu-img conversions to the one format NFC imports: streamOptimized VMDK (the untrusted
source read confined, see ``qemu``)."""

import os

from oslo_concurrency import processutils

from vmdk_volume.core.images import qemu

STREAM_OPTIMIZED = 'subformat=streamOptimized'
CONVERT_CPU_S = 7200         # vmware_image_transfer_timeout_secs' default


def to_stream_optimized(source: str, source_format: str, dest: str,
                        cpu_time_s: int = CONVERT_CPU_S) -> int:
    """Convert ``source`` (raw, qcow2 or a VMDK) into ``dest``; the bytes written."""
    qemu.convert(source, source_format, dest, 'vmdk', STREAM_OPTIMIZED, cpu_time_s)
    return os.path.getsize(dest)


def empty_stream_optimized(dest: str, size_bytes: int) -> int:
    """An all-zero streamOptimized VMDK of ``size_bytes``; the bytes written."""
    processutils.execute('qemu-img', 'create', '-f', 'vmdk', '-o', STREAM_OPTIMIZED, dest,
                         str(size_bytes))
    return os.path.getsize(dest)
