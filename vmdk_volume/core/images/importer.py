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

"""Glance image -> new backing, through an NFC import lease.

A streamOptimized VMDK (bare, or the disk inside an OVA) streams from Glance to vCenter with
no temporary file; its head is checked before anything is created, its grains as they pass
and its end (every grain its tables name arrived, footer and end-of-stream marker where
vSphere writes them) before the lease completes. Anything else (qcow2, raw, monolithicSparse
VMDK, a flat VMDK extent) is spooled into ``vmware_tmp_dir``, checked, converted to
streamOptimized with qemu-img (confined, see ``qemu``) and uploaded from the converted file.
The import creates the backing; on any failure the lease is aborted, the half-made backing
destroyed and the temporary files removed.
"""

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator

from oslo_log import log as logging

from vmdk_volume.core.backings import Backing, BackingRequest, Backings
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import convert, formats, source, transfer
from vmdk_volume.core.images.formats import ImageMeta, Probe
from vmdk_volume.core.provisioning import Provisioner
from vmdk_volume.vsphere import errors

LOG = logging.getLogger(__name__)
SPOOL_SLACK = 64 * 1024 * 1024   # a qcow2 may hold metadata beyond its virtual size
LEASE_READY_TIMEOUT_S = 300


@dataclasses.dataclass(frozen=True)
class ImageData:
    """An image's checked metadata and how to read its bytes."""

    meta: ImageMeta
    open: Callable[[], Iterable[bytes]]


@dataclasses.dataclass(frozen=True)
class Upload:
    """A streamOptimized VMDK ready to send: its chunks, size and virtual size."""

    chunks: Iterable[bytes]
    size: int
    virtual_size: int
    finish: Callable[[], None] = lambda: None    # checks once every byte went through
    source: str = 'Glance'                       # where the chunks come from


class Importer:
    """Imports images into new backings: ``provisioner`` places them and grows them,
    ``backings`` reads and destroys them; ``config`` gives the transfer time limit and the
    directory of temporary files."""

    def __init__(self, provisioner: Provisioner, backings: Backings, config: BackendConfig,
                 peer: transfer.Peer, rules: formats.ImageRules = formats.CINDER_DEFAULTS):
        self._provisioner = provisioner
        self._backings = backings
        self._config = config
        self._peer = peer
        self._rules = rules

    @property
    def _timeout_s(self) -> int:
        return self._config.image_transfer_timeout_s

    def import_image(self, image: ImageData, request: BackingRequest,
                     folder_path: tuple[str, ...], grow: bool = True) -> Backing:
        """A new backing for ``request`` in ``folder_path`` holding ``image``, grown to
        ``request.size_bytes`` if the image is smaller and ``grow`` (larger is refused)."""
        meta = image.meta
        if meta.adapter_type:
            profile = dataclasses.replace(request.profile, adapter_type=meta.adapter_type)
            request = dataclasses.replace(request, profile=profile)
        with self._vmdk_stream(image, request.size_bytes) as upload:
            landed = self.upload(upload, request, folder_path, 'image %s' % meta.image_id)
        if grow and request.size_bytes > landed.size_bytes:
            try:
                self._provisioner.extend(landed.ref, request.size_bytes, backing=landed)
            except BaseException:
                _destroy_quietly(self._backings, landed.ref)
                raise
            landed = dataclasses.replace(landed, size_bytes=request.size_bytes)
        return landed

    @contextlib.contextmanager
    def _vmdk_stream(self, image: ImageData, limit: int) -> Iterator[Upload]:
        meta = image.meta
        with contextlib.ExitStack() as stack:
            chunks, size = transfer.from_glance(image.open(), meta.image_id), meta.size
            if meta.container == 'ova':
                chunks, size = stack.enter_context(source.ova_disk(chunks))
            head, chunks = source.peek(chunks, formats.HEAD_BYTES)
            stream = formats.stream_optimized_head(head)     # any VMDK head is checked
            if stream is not None and meta.disk_format is formats.DiskFormat.VMDK and size:
                yield self._direct(meta, stream, chunks, size, limit)
            else:
                yield stack.enter_context(self._converted(meta, chunks, limit))

    def _direct(self, meta: ImageMeta, stream, chunks: Iterator[bytes], size: int,
                limit: int) -> Upload:
        probe = Probe(format='vmdk', virtual_size=stream.virtual_size,
                      subformat='streamOptimized')
        formats.check_claim(meta, probe)
        formats.check_subformat(probe.subformat, self._rules.vmdk_types)
        formats.check_fits(probe.virtual_size, limit)

        def checked() -> Iterator[bytes]:
            yield next(chunks, b'')     # the head, which the check has seen already
            for chunk in chunks:
                stream.feed(chunk)
                yield chunk
        LOG.info('Image %s is a streamOptimized VMDK of %d bytes (virtual size %d): '
                 'streaming it to vCenter', meta.image_id, size, probe.virtual_size)
        return Upload(checked(), size, probe.virtual_size,
                      finish=lambda: formats.check_stream_end(stream), source='Glance')

    @contextlib.contextmanager
    def _converted(self, meta: ImageMeta, chunks: Iterable[bytes], limit: int
                   ) -> Iterator[Upload]:
        tmp_dir = self._config.tmp_dir
        meter = transfer.Meter('download of image %s' % meta.image_id, meta.size,
                               self._timeout_s)
        spooled = source.spool(chunks, tmp_dir, meter, limit + SPOOL_SLACK)
        converted = spooled + '.vmdk'
        try:
            probe = formats.probe_file(spooled, self._rules)
            formats.check_claim(meta, probe)
            formats.check_fits(probe.virtual_size, limit)
            LOG.info('Image %s is %s%s (virtual size %d): converting it to streamOptimized',
                     meta.image_id, probe.format, ' ' + probe.subformat
                     if probe.subformat else '', probe.virtual_size)
            size = convert.to_stream_optimized(spooled, probe.format, converted,
                                               self._timeout_s)
            os.unlink(spooled)
            with open(converted, 'rb') as data:
                yield Upload(iter(lambda: data.read(transfer.CHUNK), b''), size,
                             probe.virtual_size, source='the converted file')
        finally:
            for path in (spooled, converted):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def upload(self, upload: Upload, request: BackingRequest, folder_path: tuple[str, ...],
               what: str, pool: str | None = None) -> Backing:
        """A new backing for ``request`` in ``folder_path`` (in the pool named ``pool`` if it
        fits) holding the disk of ``upload`` (``what``, for the log), its size checked;
        nothing is left of it if this fails."""
        request = dataclasses.replace(request, size_bytes=upload.virtual_size)
        where, lease = self._provisioner.start_import(request, folder_path, pool)
        entity = None
        try:
            entity, urls = lease.wait_ready(LEASE_READY_TIMEOUT_S)
            meter = transfer.Meter('upload of %s to %s' % (what, request.name), upload.size,
                                   self._timeout_s, on_progress=lease.progress)
            transfer.upload(self._peer, urls[0].url, transfer.coalesce(upload.chunks),
                            upload.size, meter, source=upload.source)
            upload.finish()
            lease.complete()
            LOG.info('Imported %s into backing %s (%s) on datastore %s: %s', what,
                     request.name, entity, where.datastore.name, meter.summary())
            return self._verify(entity, upload.virtual_size)
        except BaseException as error:
            lease.abort(str(error) or type(error).__name__)
            if entity is not None:
                _destroy_quietly(self._backings, entity)
            raise

    def _verify(self, entity: str, virtual_size: int) -> Backing:
        """The imported backing, if its disk holds the image's virtual size."""
        landed = self._backings.describe(entity)
        if landed.size_bytes < virtual_size:
            raise transfer.TransferFailed(
                'the imported disk of %s holds %d bytes, less than the image\'s %d'
                % (entity, landed.size_bytes, virtual_size))
        return landed


def _destroy_quietly(backings: Backings, entity: str) -> None:
    try:
        backings.delete(entity)
    except errors.VSphereError as error:
        LOG.warning('Could not destroy the half-imported backing %s: %s', entity, error)
