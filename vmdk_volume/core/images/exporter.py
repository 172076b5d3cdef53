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

"""Backing -> Glance image: a streamOptimized VMDK streamed out of an NFC export lease.

The export stream is checked as it passes (the VMDK inspector sees every chunk, the length
the server announced is compared) and a bad stream fails the Glance upload before it ends.
A volume without backing holds only zeros: its image is an empty streamOptimized disk of the
volume's size made locally with qemu-img, with no vCenter call at all.
"""

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator

from oslo_log import log as logging

from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import convert, formats, source, transfer
from vmdk_volume.vsphere import leases

LOG = logging.getLogger(__name__)
LEASE_READY_TIMEOUT_S = 300

# Given the image data (a file-like object with ``read``), store it in Glance.
Store = Callable[[object], None]


def image_properties(adapter_type: str) -> dict:
    """What Nova's vmwareapi driver and our import read back from a volume's image."""
    return {'vmware_disktype': 'streamOptimized', 'vmware_adaptertype': adapter_type,
            'vmware_image_version': '1'}


class Exporter:
    """Exports backings of one backend into images."""

    def __init__(self, client, config: BackendConfig, peer: transfer.Peer):
        self._client = client
        self._config = config
        self._peer = peer

    def export(self, ref: str | None, size_bytes: int, store: Store, what: str) -> None:
        """Hand ``store`` the streamOptimized VMDK of the backing ``ref`` (an empty disk of
        ``size_bytes`` if None)."""
        if ref is None:
            self._export_empty(size_bytes, store, what)
            return
        lease = leases.Lease.export_vm(self._client, ref)
        try:
            _entity, urls = lease.wait_ready(LEASE_READY_TIMEOUT_S)
            meter = transfer.Meter('export of %s' % what, urls[0].size,
                                   self._config.image_transfer_timeout_s,
                                   on_progress=lease.progress)
            store(source.ChunkReader(_checked(transfer.download(self._peer, urls[0].url,
                                                                meter))))
            lease.complete()
            LOG.info('Exported %s: %s', what, meter.summary())
        except BaseException as error:
            lease.abort(str(error) or type(error).__name__)
            raise

    def _export_empty(self, size_bytes: int, store: Store, what: str) -> None:
        tmp_dir = self._config.tmp_dir
        fd, path = tempfile.mkstemp(prefix=source.temporary_prefix(), suffix='.vmdk',
                                    dir=tmp_dir)
        os.close(fd)
        try:
            os.unlink(path)     # qemu-img creates it
            convert.empty_stream_optimized(path, size_bytes)
            with open(path, 'rb') as data:
                store(data)
            LOG.info('Exported %s, which has no backing, as an empty disk', what)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _checked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` if they make a streamOptimized VMDK; raises before the last one if not."""
    head, chunks = source.peek(chunks, formats.HEAD_BYTES)
    try:
        stream = formats.stream_optimized_head(head)
        if stream is None:
            raise transfer.TransferFailed('the export is not a streamOptimized VMDK')
        pending = next(chunks, b'')     # the head, already checked
        for chunk in chunks:
            yield pending
            stream.feed(chunk)
            pending = chunk
        formats.check_stream_end(stream)
    except formats.ImageUnacceptable as error:
        raise transfer.TransferFailed('vCenter\'s export is not a valid streamOptimized '
                                      'VMDK: %s' % error) from None
    yield pending
