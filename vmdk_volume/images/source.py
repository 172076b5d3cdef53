"""Image data from Glance as a stream of chunks: the disk inside an OVA, a peeked head,
and spooling into a bounded temporary file when a conversion needs one."""

import contextlib
import functools
import os
import tarfile
import tempfile
from collections.abc import Iterable, Iterator

from vmdk_volume.images.formats import ImageUnacceptable
from vmdk_volume.images.transfer import CHUNK, Meter


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
    fd, path = tempfile.mkstemp(prefix='vmdk-image-', dir=tmp_dir)
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
