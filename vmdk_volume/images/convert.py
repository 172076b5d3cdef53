"""qemu-img conversions to the one format NFC imports: streamOptimized VMDK (the untrusted
source read confined, see ``qemu``)."""

import os

from oslo_concurrency import processutils

from vmdk_volume.images import qemu

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
