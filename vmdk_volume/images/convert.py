"""qemu-img conversions to the one format NFC imports: streamOptimized VMDK."""

import os

from oslo_concurrency import processutils

from vmdk_volume.images.formats import ImageUnacceptable

STREAM_OPTIMIZED = 'subformat=streamOptimized'


def to_stream_optimized(source: str, source_format: str, dest: str) -> int:
    """Convert ``source`` (raw, qcow2 or a VMDK) into ``dest``; the bytes written."""
    try:
        processutils.execute('qemu-img', 'convert', '-f', source_format, '-O', 'vmdk',
                             '-o', STREAM_OPTIMIZED, source, dest)
    except processutils.ProcessExecutionError as error:
        raise ImageUnacceptable('qemu-img could not convert the %s image: %s'
                                % (source_format, (error.stderr or error).strip())) from None
    return os.path.getsize(dest)


def empty_stream_optimized(dest: str, size_bytes: int) -> int:
    """An all-zero streamOptimized VMDK of ``size_bytes``; the bytes written."""
    processutils.execute('qemu-img', 'create', '-f', 'vmdk', '-o', STREAM_OPTIMIZED, dest,
                         str(size_bytes))
    return os.path.getsize(dest)
