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

"""Image data from Glance as a stream of chunks: the disk inside an OVA, a peeked head,
and spooling into a bounded temporary file when a conversion needs one.

Spool files (and the converted files beside them, and the exporter's empty disks) are named
``vmdk-volume-spool-<pid>-…`` after the process that writes them: the files of a process that
is gone (killed mid-import) are removed by ``remove_stale_spools`` at the driver's set-up;
nothing else in ``vmware_tmp_dir`` is ever touched.
"""

import contextlib
import functools
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable, Iterator

from oslo_log import log as logging

from vmdk_volume.core.images.formats import ImageUnacceptable
from vmdk_volume.core.images.transfer import CHUNK, Meter

LOG = logging.getLogger(__name__)
SPOOL_PREFIX = 'vmdk-volume-spool-'
_SPOOL_NAME = re.compile(r'^%s(\d+)-' % re.escape(SPOOL_PREFIX))


class ChunkReader:
    """A read-only file over an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b''
        self._offset = 0        # into _buffer: slicing the head off would copy the rest

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b''.join(self.chunks())
        parts, wanted = [], size
        while wanted > 0:
            if self._offset >= len(self._buffer):
                self._buffer, self._offset = next(self._chunks, b''), 0
                if not self._buffer:
                    break
            part = self._buffer[self._offset:self._offset + wanted]
            self._offset += len(part)
            wanted -= len(part)
            parts.append(part)
        return b''.join(parts)

    def chunks(self) -> Iterator[bytes]:
        """What is left, chunk by chunk."""
        if self._offset < len(self._buffer):
            yield self._buffer[self._offset:]
        self._buffer, self._offset = b'', 0
        yield from self._chunks


@contextlib.contextmanager
def ova_disk(chunks: Iterable[bytes]) -> Iterator[tuple[Iterator[bytes], int]]:
    """The first ``.vmdk`` member of an OVA (a tar) streamed: its chunks and size."""
    with tarfile.open(fileobj=ChunkReader(chunks), mode='r|') as archive:
        for member in archive:
            if member.isfile() and member.name.lower().endswith('.vmdk'):
                yield iter(functools.partial(archive.extractfile(member).read, CHUNK),
                           b''), member.size
                return
    raise ImageUnacceptable('the ova container holds no .vmdk file')


def peek(chunks: Iterable[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``size`` bytes (fewer if the stream is shorter) and the whole stream."""
    reader = ChunkReader(chunks)
    head = reader.read(size)
    return head, _prepend(head, reader.chunks())


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def spool(chunks: Iterable[bytes], tmp_dir: str, meter: Meter, limit: int) -> str:
    """Write ``chunks`` to a new temporary file in ``tmp_dir`` (at most ``limit`` bytes);
    its path, which the caller removes."""
    fd, path = tempfile.mkstemp(prefix=temporary_prefix(), dir=tmp_dir)
    try:
        with os.fdopen(fd, 'wb') as out:
            for chunk in chunks:
                if meter.done + len(chunk) > limit:
                    raise ImageUnacceptable('the image data exceeds %d bytes, more than it '
                                            'can hold for the volume' % limit)
                out.write(chunk)
                meter.advance(len(chunk))
    except BaseException:
        os.unlink(path)
        raise
    return path


def temporary_prefix() -> str:
    """The name prefix of this process's temporary files in ``vmware_tmp_dir``."""
    return '%s%d-' % (SPOOL_PREFIX, os.getpid())


def remove_stale_spools(tmp_dir: str) -> None:
    """Remove the spool files in ``tmp_dir`` whose process is gone."""
    for name in sorted(os.listdir(tmp_dir)) if os.path.isdir(tmp_dir) else ():
        match = _SPOOL_NAME.match(name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = os.path.join(tmp_dir, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as error:
            LOG.warning('Could not remove %s, left by process %s (gone): %s', path,
                        match.group(1), error)
            continue
        LOG.info('Removed %s, left by process %s (gone)', path, match.group(1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # another user's process
        return True
    return True
