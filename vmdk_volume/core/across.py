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

"""A backing moved to another vCenter: its disk streams out of an NFC export lease on the
source straight into an NFC import lease on the target, which places and files the new
backing as it places any (its placement, its project folder, the storage policy asked for).

No local file: a thread reads the export at most ``READ_AHEAD`` chunks ahead of the upload,
so memory stays flat whatever the size and both transfers run at once. The stream is checked
as it passes: a streamOptimized VMDK of the source disk's capacity, every grain its tables
name arrived and its end marker, exactly the length the export announced; the landed disk
must hold the source's capacity. Only then is the source backing destroyed. A failure at any
point aborts both leases and destroys what the import made on the target (``Importer``);
the source is left as it was.
"""

import contextlib
import dataclasses
import queue
import threading
import typing
from collections.abc import Iterable, Iterator

from oslo_log import log as logging

from vmdk_volume.core.backings import Backing, BackingRequest, Backings
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import formats, importer, transfer
from vmdk_volume.core.images.source import peek
from vmdk_volume.core.provisioning import Provisioner
from vmdk_volume.vsphere import errors, leases
from vmdk_volume.vsphere.client import Client

if typing.TYPE_CHECKING:
    from vmdk_volume.core import wiring

LOG = logging.getLogger(__name__)
LEASE_READY_TIMEOUT_S = 300
READ_AHEAD = 8      # chunks of transfer.CHUNK held between the export and the import
PUT_POLL_S = 0.1


class MoveFailed(RuntimeError):
    """The disk did not arrive whole: the source is intact, the target keeps nothing."""


@dataclasses.dataclass(frozen=True)
class Side:
    """One vCenter of a move: what the move uses of its backend, and how to reach its NFC
    URLs."""

    client: Client
    config: BackendConfig
    backings: Backings
    provisioner: Provisioner
    peer: transfer.Peer

    @classmethod
    def of(cls, services: 'wiring.Services') -> 'Side':
        """What a move uses of the backend ``services`` were wired for."""
        backend = services.backend
        return cls(backend.client, backend.config, services.backings, services.provisioner,
                   services.images.peer())

    @property
    def name(self) -> str:
        return self.config.endpoint.host


def move(source: Side, target: Side, backing: Backing, request: BackingRequest,
         project_id: str, pool: str | None = None) -> Backing:
    """A new backing for ``request`` on ``target`` (in its pool named ``pool`` if it fits)
    holding the disk of ``backing`` (on ``source``), filed in the project's volume folder;
    ``backing`` is then destroyed."""
    landed = _copy(source, target, backing, request, project_id, pool)
    try:
        source.backings.delete(backing.ref)
    except BaseException:
        _destroy_quietly(target, landed.ref)    # the source stays the volume's
        raise
    LOG.info('Moved %s from vCenter %s (%s) to vCenter %s (%s)', request.name, source.name,
             backing.ref, target.name, landed.ref)
    return landed


def _copy(source: Side, target: Side, backing: Backing, request: BackingRequest,
          project_id: str, pool: str | None) -> Backing:
    lease = leases.Lease.export_vm(source.client, backing.ref)
    try:
        _entity, urls = lease.wait_ready(LEASE_READY_TIMEOUT_S)
        meter = transfer.Meter('export of %s from vCenter %s' % (request.name, source.name),
                               urls[0].size, source.config.image_transfer_timeout_s,
                               on_progress=lease.progress)
        with transfer.open_download(source.peer, urls[0].url, meter) as download, \
                ReadAhead(download) as chunks:
            upload = _upload(download.length, chunks, backing, source.name)
            landed = _importer(target).upload(
                upload, request, target.provisioner.volume_folder_path(project_id),
                '%s from vCenter %s' % (request.name, source.name), pool)
        try:
            lease.complete()
        except BaseException:
            _destroy_quietly(target, landed.ref)
            raise
        return landed
    except formats.ImageUnacceptable as error:
        lease.abort(str(error))
        raise MoveFailed('the export of %s from vCenter %s is not a sound streamOptimized '
                         'VMDK: %s' % (backing.ref, source.name, error)) from error
    except BaseException as error:
        lease.abort(str(error) or type(error).__name__)
        raise


def _importer(target: Side) -> importer.Importer:
    return importer.Importer(target.provisioner, target.backings, target.config, target.peer)


def _upload(length: int | None, chunks: Iterable[bytes], backing: Backing,
            where: str) -> importer.Upload:
    """The export (``length`` bytes) as an upload for the import: its head checked before
    anything is made on the target, the rest as it passes."""
    if length is None:
        raise MoveFailed('vCenter %s announced no length for the export of %s: an NFC '
                         'upload needs it' % (where, backing.ref))
    head, chunks = peek(chunks, formats.HEAD_BYTES)
    stream = formats.stream_optimized_head(head)
    if stream is None:
        raise MoveFailed('the export of %s from vCenter %s is not a streamOptimized VMDK'
                         % (backing.ref, where))
    if stream.virtual_size != backing.size_bytes:
        raise MoveFailed('the export of %s from vCenter %s holds %d bytes, not the %d of '
                         'its disk' % (backing.ref, where, stream.virtual_size,
                                       backing.size_bytes))

    def checked() -> Iterator[bytes]:
        yield next(chunks, b'')     # the head, checked already
        for chunk in chunks:
            stream.feed(chunk)
            yield chunk
    return importer.Upload(checked(), length, stream.virtual_size,
                           finish=lambda: formats.check_stream_end(stream),
                           source='the export from vCenter %s' % where)


class ReadAhead:
    """The chunks of a download, read by a thread of their own at most ``depth`` chunks
    ahead; a failure reading them is raised to the consumer. Once closed, the thread stops
    at its next chunk (closing the download ends a read under way)."""

    _END = object()

    def __init__(self, chunks: Iterable[bytes], depth: int = READ_AHEAD):
        self._chunks = chunks
        self._held: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        threading.Thread(target=self._read, name='read-ahead', daemon=True).start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._held.put(item, timeout=PUT_POLL_S)
                return True
        return False

    def _read(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(self._END)
        except BaseException as error:      # handed over, raised by the consumer
            self._put(error)

    def __iter__(self) -> Iterator[bytes]:
        while (item := self._held.get()) is not self._END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def __enter__(self) -> 'ReadAhead':
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()


def _destroy_quietly(target: Side, ref: str) -> None:
    try:
        target.backings.delete(ref)
    except errors.VSphereError as error:
        LOG.warning('Could not destroy %s on vCenter %s, a copy of a volume that stays on '
                    'its source: %s', ref, target.name, error)
