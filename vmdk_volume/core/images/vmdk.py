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

"""Our own reading of a VMDK's sparse header and descriptor: what qemu or vCenter would open.

A hosted sparse extent (``KDMV``) embeds a descriptor; qemu and vCenter follow what it names:
a parent (``parentFileNameHint``), and, when the header's capacity is 0, the extents of its
descriptor. Only a disk that names nothing but itself is accepted: createType
monolithicSparse or streamOptimized, ``parentCID=ffffffff``, no parent hint, exactly one
SPARSE extent with a plain file name (an embedded descriptor's extent *is* the file, whatever
its name). Anything else (a text descriptor naming extent files, a delta, several extents,
paths, URLs, unknown lines) is refused with the reason.
"""

import dataclasses
import re
import struct

from vmdk_volume.core.images.errors import ImageUnacceptable

SECTOR = 512
MAGIC = b'KDMV'
GD_AT_END = 0xFFFFFFFFFFFFFFFF
HEADER = struct.Struct('<4sIIQQQQIQQQB4sH')
FLAG_ZEROED_GTE = 1 << 2
FLAG_COMPRESSED = 1 << 16
FLAG_MARKERS = 1 << 17
MAX_DESCRIPTOR_SECTORS = 2048            # 1 MiB, as qemu reads at most
SUBFORMATS = ('monolithicSparse', 'streamOptimized')
NO_PARENT = 'ffffffff'
_EXTENT = re.compile(r'^(rw|rdonly|noaccess)\s+(\d+)\s+(\S+)(?:\s+"([^"]*)")?(?:\s+(\d+))?$',
                     re.IGNORECASE)
_SAFE_NAME = re.compile(r'^(?!\.\.?$)[^/\\:\x00-\x1f]+$')    # no path, no URL, not . or ..


@dataclasses.dataclass(frozen=True)
class Header:
    """The fields of a hosted sparse extent's header that decide how it is read."""

    version: int
    flags: int
    capacity: int            # sectors
    grain: int               # sectors
    descriptor_offset: int   # sectors
    descriptor_size: int     # sectors
    gtes_per_gt: int
    gd_offset: int           # sectors, or GD_AT_END (the footer has it)
    overhead: int            # sectors before the first grain

    @classmethod
    def parse(cls, data: bytes) -> 'Header':
        """The header at the start of ``data``; ImageUnacceptable if it is not one we read."""
        if len(data) < HEADER.size or not data.startswith(MAGIC):
            raise ImageUnacceptable('the VMDK has no sparse header (KDMV)')
        (_magic, version, flags, capacity, grain, desc_offset, desc_size, gtes, _rgd,
         gd_offset, overhead, _unclean, _chars, _compress) = HEADER.unpack_from(data)
        header = cls(version, flags, capacity, grain, desc_offset, desc_size, gtes, gd_offset,
                     overhead)
        header._check()
        return header

    def _check(self) -> None:
        problems = []
        if self.version not in (1, 2, 3):
            problems.append('version %d' % self.version)
        if self.capacity == 0:      # qemu would then open the extents its descriptor names
            problems.append('capacity 0')
        if self.grain < 8 or self.grain & (self.grain - 1) or self.grain > 2048:
            problems.append('grain size of %d sectors' % self.grain)
        if self.gtes_per_gt != 512:
            problems.append('%d grain table entries per table' % self.gtes_per_gt)
        if self.descriptor_offset != 1 or not 0 < self.descriptor_size \
                <= MAX_DESCRIPTOR_SECTORS:
            problems.append('descriptor at sector %d of %d sectors'
                            % (self.descriptor_offset, self.descriptor_size))
        if problems:
            raise ImageUnacceptable('the VMDK sparse header is not acceptable (%s)'
                                    % ', '.join(problems))

    @property
    def stream(self) -> bool:
        """Compressed grains behind markers: streamOptimized."""
        return bool(self.flags & FLAG_COMPRESSED and self.flags & FLAG_MARKERS)

    @property
    def gd_entries(self) -> int:
        """Grain tables the directory lists (each covers ``gtes_per_gt`` grains)."""
        return -(-self.capacity // (self.grain * self.gtes_per_gt))

    @property
    def descriptor_end(self) -> int:
        """Bytes from the file's start to the end of its embedded descriptor."""
        return (self.descriptor_offset + self.descriptor_size) * SECTOR


def descriptor_text(data: bytes, header: Header) -> str:
    """The embedded descriptor in ``data`` (the file's head), up to its first NUL."""
    if len(data) < header.descriptor_end:
        raise ImageUnacceptable('the VMDK ends within its descriptor')
    raw = data[header.descriptor_offset * SECTOR:header.descriptor_end].split(b'\0', 1)[0]
    try:
        return raw.decode('ascii')
    except UnicodeDecodeError:
        raise ImageUnacceptable('the VMDK descriptor is not ASCII text') from None


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """An embedded descriptor that names nothing but its own file."""

    create_type: str
    extent_name: str
    extent_sectors: int

    @classmethod
    def parse(cls, text: str) -> 'Descriptor':
        """``text`` checked line by line; ImageUnacceptable naming the first problem."""
        fields, extents = {}, []
        for line in (raw.strip() for raw in text.splitlines()):
            if not line or line.startswith('#'):
                continue
            if line.lower().startswith('ddb.'):
                continue
            key, equals, value = line.partition('=')
            if equals and re.fullmatch(r'[A-Za-z][A-Za-z0-9_.]*', key.strip()):
                fields[key.strip()] = value.strip().strip('"')
            elif _EXTENT.match(line):
                extents.append(_EXTENT.match(line))
            else:
                raise ImageUnacceptable('the VMDK descriptor has a line it may not have: %r'
                                        % line[:80])
        return cls._checked(fields, extents)

    @classmethod
    def _checked(cls, named: dict, extents: list) -> 'Descriptor':
        fields = {key.lower(): value for key, value in named.items()}
        create_type = fields.get('createtype', '')
        known = {kind.lower(): kind for kind in SUBFORMATS}
        if create_type.lower() not in known:
            raise ImageUnacceptable('VMDK createType %r is not allowed (only %s: a delta or '
                                    'a descriptor naming other files may not be imported)'
                                    % (create_type[:64], ', '.join(SUBFORMATS)))
        parents = sorted(key for key in named if key.lower().startswith('parent')
                         and key.lower() != 'parentcid')
        if parents or fields.get('parentcid', NO_PARENT).lower() != NO_PARENT:
            raise ImageUnacceptable('the VMDK descriptor names a parent disk (%s): only a '
                                    'disk without parent may be imported'
                                    % ', '.join(parents or ['parentCID']))
        if len(extents) != 1:
            raise ImageUnacceptable('the VMDK descriptor names %d extents: exactly one, the '
                                    'file itself, is allowed' % len(extents))
        extent = extents[0]
        name = extent.group(4) or ''
        if extent.group(3).upper() != 'SPARSE' or extent.group(5) \
                or not _SAFE_NAME.match(name):
            raise ImageUnacceptable('the VMDK extent %r is not the file itself (a SPARSE '
                                    'extent with a plain file name)' % extent.group(0)[:120])
        return cls(known[create_type.lower()], name, int(extent.group(2)))


def check_head(data: bytes) -> tuple[Header, Descriptor]:
    """The header and descriptor of a hosted sparse extent starting ``data``, both checked."""
    header = Header.parse(data)
    descriptor = Descriptor.parse(descriptor_text(data, header))
    if descriptor.extent_sectors != header.capacity:
        raise ImageUnacceptable('the VMDK extent has %d sectors but its header %d'
                                % (descriptor.extent_sectors, header.capacity))
    if header.stream != (descriptor.create_type == 'streamOptimized'):
        raise ImageUnacceptable('the VMDK header does not match createType %s'
                                % descriptor.create_type)
    return header, descriptor


def is_vmdk_text(data: bytes) -> bool:
    """Whether ``data`` (a file's head) looks like a text VMDK descriptor."""
    head = data[:4096].lower()
    return head.lstrip().startswith(b'# disk descriptorfile') or b'createtype=' in head
