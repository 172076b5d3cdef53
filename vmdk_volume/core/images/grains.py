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

"""Whether a sparse VMDK holds the grains its tables promise: nothing past its end, nothing
missing from a stream.

A monolithicSparse file's grain directory and tables must point inside the file. A
streamOptimized stream is walked marker by marker as it passes: each grain's marker is
counted, its tables (ahead of the grains as qemu writes them, or behind as vSphere does, with
a footer and an end-of-stream marker) are summed, and at the end both must agree: a stream cut
short, or tables pointing where no grain arrived, is refused.
"""

import array
import os
import struct

from vmdk_volume.core.images.errors import ImageUnacceptable
from vmdk_volume.core.images.vmdk import FLAG_ZEROED_GTE, GD_AT_END, SECTOR, Header

MARKER = struct.Struct('<QI')
EOS, GRAIN_TABLE, GRAIN_DIRECTORY, FOOTER = 0, 1, 2, 3


def _entries(data: bytes) -> array.array:
    entries = array.array('I', data)
    if array.array('I', [1]).tobytes() != b'\1\0\0\0':
        entries.byteswap()
    return entries


def check_sparse_file(path: str, header: Header) -> None:
    """Every grain table and grain of the monolithicSparse file ``path`` inside the file."""
    with open(path, 'rb') as image:
        def read(offset: int, count: int) -> bytes:
            image.seek(offset)
            return image.read(count)
        _check_tables(header, os.path.getsize(path), read)


def check_sparse_head(head: bytes, header: Header, size: int) -> None:
    """The same for a file of ``size`` bytes of which only ``head`` is at hand: tables
    beyond the head are not read (only their place is checked)."""
    _check_tables(header, size, lambda offset, count: head[offset:offset + count]
                  if offset + count <= len(head) else None)


def _check_tables(header: Header, size: int, read) -> None:
    if header.gd_offset == GD_AT_END or header.stream:
        raise ImageUnacceptable('the monolithicSparse VMDK has no grain directory in place')
    table_bytes = header.gtes_per_gt * 4
    past_end = 'points past the end of the file (%d bytes): the image is truncated or ' \
        'corrupt' % size
    if header.gd_offset * SECTOR + header.gd_entries * 4 > size:
        raise ImageUnacceptable('the VMDK grain directory %s' % past_end)
    directory = read(header.gd_offset * SECTOR, header.gd_entries * 4)
    zeroed = 1 if header.flags & FLAG_ZEROED_GTE else 0
    for number, table in enumerate(_entries(directory or b'')):
        if table and table * SECTOR + table_bytes > size:
            raise ImageUnacceptable('the VMDK grain directory entry %d %s' % (number, past_end))
        data = read(table * SECTOR, table_bytes) if table else None
        last = max(_entries(data)) if data else 0
        if last > zeroed and (last + header.grain) * SECTOR > size:
            raise ImageUnacceptable('the VMDK grain table %d %s' % (number, past_end))


class _Skip(int):
    """Bytes the walk passes over without reading them."""


class _Tally:
    """Grains as a count and sums of their sectors and LBAs (tables and markers agree)."""

    def __init__(self):
        self.count = self.sectors = self.lbas = 0

    def add(self, count: int, sectors: int, lbas: int) -> None:
        self.count += count
        self.sectors += sectors
        self.lbas += lbas

    def as_tuple(self) -> tuple[int, int, int]:
        return self.count, self.sectors, self.lbas


class StreamCheck:
    """Walks a streamOptimized VMDK from its first byte: ``feed`` every chunk, then
    ``finish``; ImageUnacceptable as soon as the stream is wrong."""

    def __init__(self, header: Header):
        self._header = header
        self._tables, self._grains = _Tally(), _Tally()
        self._behind: dict[int, tuple[int, int, int]] = {}   # tables after their grains
        self._directory_at = None
        self._at_marker = False
        self._pending = bytearray()
        self._want: int | None = 0       # bytes the walk waits for (None: it has ended)
        self._skipping = 0              # bytes it passes over unread, a grain's data
        self._parser = self._walk()
        self._resume(None)

    @property
    def virtual_size(self) -> int:
        return self._header.capacity * SECTOR

    def feed(self, chunk: bytes) -> None:
        data = memoryview(chunk)
        while self._want is not None and data:
            if self._skipping:      # a grain's data: counted, not copied
                step = min(self._skipping, len(data))
                self._skipping -= step
                data = data[step:]
                if not self._skipping:
                    self._resume(b'')
                continue
            need = self._want - len(self._pending)
            self._pending += data[:need]
            data = data[need:]
            if len(self._pending) == self._want:
                piece = bytes(self._pending)
                self._pending.clear()
                self._resume(piece)
        if data and bytes(data).count(0) != len(data):  # zeros may pad the file (qemu's do)
            raise ImageUnacceptable('the VMDK stream goes on after its end-of-stream marker')

    def _resume(self, piece: bytes | None) -> None:
        """Hand ``piece`` to the walk; note what it wants next."""
        while True:
            try:
                want = self._parser.send(piece)
            except StopIteration:
                self._want = None
                return
            if want:
                break
            piece = b''
        if isinstance(want, _Skip):
            self._skipping = int(want)
        else:
            self._want = want

    def finish(self) -> None:
        """The stream has ended: it must end where a VMDK stream may, every grain there."""
        ended = self._want is None or (self._header.gd_offset != GD_AT_END
                                       and self._at_marker and not self._pending)
        if not ended:
            raise ImageUnacceptable('the VMDK stream is truncated: it ends inside a grain '
                                    'or its metadata, without its end-of-stream marker')
        if self._tables.as_tuple() != self._grains.as_tuple():
            raise ImageUnacceptable(
                'the VMDK stream is truncated or corrupt: its grain tables name %d grains, '
                '%d arrived where they point' % (self._tables.count, self._grains.count))

    def _walk(self):
        header = self._header
        at = 0
        if header.gd_offset != GD_AT_END:
            at = yield from self._tables_ahead()
        if header.overhead * SECTOR < max(at, header.descriptor_end):
            raise ImageUnacceptable('the VMDK grains start within its metadata')
        yield header.overhead * SECTOR - at
        at = header.overhead * SECTOR
        while True:
            self._at_marker = True
            value, size = MARKER.unpack((yield MARKER.size))
            self._at_marker = False
            if size:
                at += yield from self._grain(at, value, size)
                continue
            kind = struct.unpack_from('<I', (yield SECTOR - MARKER.size))[0]
            data = yield self._metadata_bytes(kind, value)
            self._metadata(kind, at // SECTOR + 1, data)
            at += SECTOR + len(data)
            if kind == EOS:
                return

    def _grain(self, at: int, lba: int, size: int):
        header = self._header
        if size > 2 * header.grain * SECTOR + 4096 or lba % header.grain \
                or lba >= header.capacity:
            raise ImageUnacceptable('the VMDK stream has a bad grain marker at byte %d' % at)
        self._grains.add(1, at // SECTOR, lba)
        rest = -(-(MARKER.size + size) // SECTOR) * SECTOR - MARKER.size
        yield _Skip(rest)
        return MARKER.size + rest

    def _metadata_bytes(self, kind: int, sectors: int) -> int:
        header = self._header
        expected = {EOS: 0, GRAIN_TABLE: header.gtes_per_gt * 4 // SECTOR, FOOTER: 1,
                    GRAIN_DIRECTORY: -(-header.gd_entries * 4 // SECTOR)}.get(kind)
        if expected is None or sectors != expected:
            raise ImageUnacceptable('the VMDK stream has a bad metadata marker (type %d, %d '
                                    'sectors)' % (kind, sectors))
        return sectors * SECTOR

    def _metadata(self, kind: int, sector: int, data: bytes) -> None:
        if kind == GRAIN_TABLE:
            entries = [(i, value) for i, value in enumerate(_entries(data)) if value]
            self._behind[sector] = (len(entries), sum(v for _i, v in entries),
                                    sum(i for i, _v in entries))
        elif kind == GRAIN_DIRECTORY:
            self._directory_at = sector
            for number, table in enumerate(_entries(data)[:self._header.gd_entries]):
                if table:
                    self._count_table(number, table)
        elif kind == FOOTER:
            footer = Header.parse(data)
            if footer.gd_offset != self._directory_at or footer.capacity \
                    != self._header.capacity:
                raise ImageUnacceptable('the VMDK stream footer does not match its header '
                                        'and grain directory')

    def _count_table(self, number: int, sector: int) -> None:
        if sector not in self._behind:
            raise ImageUnacceptable('the VMDK grain directory names a grain table that is '
                                    'not in the stream (sector %d)' % sector)
        count, sectors, indexes = self._behind.pop(sector)
        self._add_table(number, count, sectors, indexes)

    def _add_table(self, number: int, count: int, sectors: int, indexes: int) -> None:
        grain, per_table = self._header.grain, self._header.gtes_per_gt
        self._tables.add(count, sectors, grain * (count * number * per_table + indexes))

    def _tables_ahead(self):
        """Read the directory and tables qemu writes ahead of the grains; where it ends."""
        header = self._header
        at = header.gd_offset * SECTOR
        if at < header.descriptor_end:
            raise ImageUnacceptable('the VMDK grain directory overlaps its descriptor')
        yield at
        directory = _entries((yield header.gd_entries * 4))
        at += header.gd_entries * 4
        table_bytes = header.gtes_per_gt * 4
        for sector, number in sorted((s, n) for n, s in enumerate(directory) if s):
            if sector * SECTOR < at or (sector * SECTOR + table_bytes
                                        > header.overhead * SECTOR):
                raise ImageUnacceptable('the VMDK grain table %d lies outside the stream\'s '
                                        'metadata' % number)
            yield sector * SECTOR - at
            entries = [(i, v) for i, v in enumerate(_entries((yield table_bytes))) if v]
            at = sector * SECTOR + table_bytes
            self._add_table(number, len(entries), sum(v for _i, v in entries),
                            sum(i for i, _v in entries))
        return at
