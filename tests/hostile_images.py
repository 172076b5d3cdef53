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

"""Builders of hostile and corrupt images and the canaries that show what was read: shared
by the unit, functional and Cinder image tests."""

import os
import pathlib
import socket
import struct
import subprocess
import threading
import zlib

from vmdk_volume.core.images import grains, vmdk

SECTOR = 512
GRAIN = 128                       # sectors (64 KiB), as qemu and vSphere write
SECRET = b'vmware_host_password = canary-secret\n'


def qemu_img(*args):
    subprocess.run(['qemu-img', *args], check=True, capture_output=True)


class Listener:
    """A loopback TCP socket that records who connects (and closes at once)."""

    def __init__(self):
        self._sock = socket.create_server(('127.0.0.1', 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _peer = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self._sock.close()


def sparse(raw: pathlib.Path, out: pathlib.Path, subformat='monolithicSparse') -> bytes:
    qemu_img('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=' + subformat, str(raw),
             str(out))
    return out.read_bytes()


def with_descriptor(data: bytes, edit) -> bytes:
    """``data`` (a hosted sparse VMDK) with its embedded descriptor text edited."""
    header = vmdk.Header.parse(data)
    text = edit(vmdk.descriptor_text(data, header))
    room = header.descriptor_size * SECTOR
    assert len(text) < room
    start = header.descriptor_offset * SECTOR
    return data[:start] + text.encode().ljust(room, b'\0') + data[start + room:]


def with_header(data: bytes, **fields) -> bytes:
    """``data`` with header fields (capacity, gd_offset) replaced."""
    offsets = {'capacity': 12, 'gd_offset': 56}
    out = bytearray(data)
    for name, value in fields.items():
        struct.pack_into('<Q', out, offsets[name], value)
    return bytes(out)


def hint(target: str):
    return lambda text: text.replace('parentCID=ffffffff',
                                     'parentCID=1234abcd\nparentFileNameHint="%s"' % target)


def extents(*lines: str):
    def edit(text):
        kept = [line for line in text.splitlines() if not line.startswith('RW ')]
        at = kept.index('# Extent description') + 1
        return '\n'.join(kept[:at] + list(lines) + kept[at:]) + '\n'
    return edit


def vsphere_stream(data: bytes) -> bytes:
    """``data`` as a streamOptimized VMDK laid out as vSphere writes it: grains, then grain
    tables and directory behind markers, a footer and an end-of-stream marker."""
    capacity = len(data) // SECTOR
    tables = -(-capacity // (GRAIN * 512))
    descriptor = ('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                  'createType="streamOptimized"\nRW %d SPARSE "disk.vmdk"\n'
                  'ddb.adapterType = "lsilogic"\n' % capacity).encode().ljust(2 * SECTOR,
                                                                               b'\0')

    def header(gd_offset):
        return struct.pack('<4sIIQQQQIQQQB4sH', b'KDMV', 3, 0x30001, capacity, GRAIN, 1, 2,
                           512, 0, gd_offset, GRAIN, 0, b'\n \r\n', 1).ljust(SECTOR, b'\0')

    def marker(sectors, kind):
        return struct.pack('<QII', sectors, 0, kind).ljust(SECTOR, b'\0')
    out = bytearray(header(vmdk.GD_AT_END) + descriptor)
    out += bytes(GRAIN * SECTOR - len(out))
    entries = [0] * (tables * 512)
    for index in range(capacity // GRAIN):
        grain = data[index * GRAIN * SECTOR:(index + 1) * GRAIN * SECTOR]
        if grain.strip(b'\0'):
            entries[index] = len(out) // SECTOR
            packed = zlib.compress(grain)
            out += struct.pack('<QI', index * GRAIN, len(packed)) + packed
            out += bytes(-len(out) % SECTOR)
    directory = []
    for number in range(tables):
        out += marker(4, grains.GRAIN_TABLE)
        directory.append(len(out) // SECTOR)
        out += struct.pack('<512I', *entries[number * 512:(number + 1) * 512])
    out += marker(-(-tables * 4 // SECTOR), grains.GRAIN_DIRECTORY)
    gd_at = len(out) // SECTOR
    out += struct.pack('<%dI' % tables, *directory).ljust(-(-tables * 4 // SECTOR) * SECTOR,
                                                          b'\0')
    out += marker(1, grains.FOOTER) + header(gd_at) + bytes(SECTOR)
    return bytes(out)


def shift_table_entry(stream: bytes, value: int) -> bytes:
    """``stream`` (vSphere layout) with its first grain table's first entry set to
    ``value``: a grain that never arrived."""
    at = stream.index(struct.pack('<QII', 4, 0, grains.GRAIN_TABLE)) + SECTOR
    return stream[:at] + struct.pack('<I', value) + stream[at + 4:]


def patched(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack('<I', value) + data[offset + 4:]


def traced(tmp_path: pathlib.Path, monkeypatch) -> pathlib.Path:
    """Put a ``qemu-img`` first on PATH that runs the real one under strace (opens and
    connects, all processes); the path of its log."""
    log = tmp_path / 'strace.log'
    shim = tmp_path / 'bin'
    shim.mkdir()
    (shim / 'qemu-img').write_text(
        '#!/bin/sh\nexec strace -f -qq -o %s -e trace=openat,open,connect /usr/bin/qemu-img '
        '"$@"\n' % log)
    (shim / 'qemu-img').chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (shim, os.environ['PATH']))
    return log


def refused_everywhere(name: str, raw: pathlib.Path, secret: pathlib.Path, port: int,
                       work: pathlib.Path) -> tuple[bytes, dict, str]:
    """The hostile or corrupt image ``name`` of the table every import path refuses: its
    bytes, its Glance properties and the refusal's words."""
    nbd = 'nbd://127.0.0.1:%d/export' % port
    stream = 'vmware_disktype', 'streamOptimized'
    table = {
        'sparse, parent hint to a host file': lambda: (
            with_descriptor(_sparse(raw, work), hint(str(secret))), {}, 'names a parent'),
        'sparse, parent hint to nbd://': lambda: (
            with_descriptor(_sparse(raw, work), hint(nbd)), {}, 'names a parent'),
        'sparse, parent hint to /proc/self/fd/N': lambda: (
            with_descriptor(_sparse(raw, work), hint('/proc/self/fd/4')), {},
            'names a parent'),
        'stream, parent hint to a host file': lambda: (
            with_descriptor(_sparse(raw, work, 'streamOptimized'), hint(str(secret))),
            dict([stream]), 'names a parent'),
        'sparse delta (vmfsSparse)': lambda: (with_descriptor(
            _sparse(raw, work), lambda t: t.replace('monolithicSparse', 'vmfsSparse')), {},
            'createType'),
        'sparse, extent at an absolute path': lambda: (with_descriptor(
            _sparse(raw, work), extents('RW 6144 SPARSE "%s"' % secret)), {},
            'not the file itself'),
        'sparse, two extents': lambda: (with_descriptor(_sparse(raw, work), extents(
            'RW 6144 SPARSE "a.vmdk"', 'RW 6144 SPARSE "b.vmdk"')), {}, 'names 2 extents'),
        'text descriptor naming a host file': lambda: ((
            '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
            'createType="monolithicFlat"\nRW 6144 FLAT "%s" 0\n' % secret).encode(), {},
            'VMDK descriptor'),
        'stream cut in half': lambda: (_half(_sparse(raw, work, 'streamOptimized')),
                                       dict([stream]), 'truncated'),
        'vSphere stream without its end': lambda: (
            vsphere_stream(raw.read_bytes())[:-SECTOR], dict([stream]), 'truncated'),
        'sparse grain table past the end': lambda: (table_past_end(_sparse(raw, work)), {},
                                                    'past the end'),
    }
    return table[name]()


REFUSED_EVERYWHERE = (
    'sparse delta (vmfsSparse)', 'sparse grain table past the end', 'sparse, extent at an '
    'absolute path', 'sparse, parent hint to /proc/self/fd/N', 'sparse, parent hint to a host '
    'file', 'sparse, parent hint to nbd://', 'sparse, two extents', 'stream cut in half',
    'stream, parent hint to a host file', 'text descriptor naming a host file',
    'vSphere stream without its end')


def _sparse(raw: pathlib.Path, work: pathlib.Path, subformat='monolithicSparse') -> bytes:
    return sparse(raw, work / ('%s-%s.vmdk' % (raw.stem, subformat)), subformat)


def _half(data: bytes) -> bytes:
    return data[:len(data) // 2]


def table_past_end(data: bytes) -> bytes:
    header = vmdk.Header.parse(data)
    table = struct.unpack_from('<I', data, header.gd_offset * SECTOR)[0] * SECTOR
    return patched(data, table, 10 ** 6)
