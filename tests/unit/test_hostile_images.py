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

"""Hostile and corrupt VMDKs: our own checks refuse them on every path (the streamed head,
the spooled file, the vsphere:// head), and qemu-img, run through our wrapper even on a file
the checks never saw, opens no parent and makes no connection (strace and canaries)."""

import os
import pathlib
import struct
import subprocess

import pytest

from tests.hostile_images import (
    SECRET,
    SECTOR,
    Listener,
    extents,
    hint,
    patched,
    qemu_img,
    shift_table_entry,
    sparse,
    vsphere_stream,
    with_descriptor,
    with_header,
)
from tests.hostile_images import traced as traced_path
from vmdk_volume.core.images import formats, qemu, vmdk

MiB = 1024 ** 2


@pytest.fixture(scope='module')
def work(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp('hostile')


@pytest.fixture(scope='module')
def raw(work) -> pathlib.Path:
    path = work / 'disk.raw'
    data = bytearray(os.urandom(3 * MiB))
    data[MiB:2 * MiB] = bytes(MiB)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope='module')
def secret(work) -> pathlib.Path:
    """A file of the host no image may read (cinder.conf's stand-in)."""
    path = work / 'cinder.conf'
    path.write_bytes(SECRET * 64)
    return path


@pytest.fixture
def traced(tmp_path, monkeypatch) -> pathlib.Path:
    return traced_path(tmp_path, monkeypatch)


@pytest.fixture
def listener():
    canary = Listener()
    yield canary
    canary.close()


def hostile_descriptors(secret: pathlib.Path, port: int) -> dict:
    """Edits of a monolithicSparse VMDK's descriptor that name something but the file."""
    nbd = 'nbd://127.0.0.1:%d/export' % port
    return {
        'parent hint to a host file': (hint(str(secret)), 'names a parent'),
        'parent hint to nbd://': (hint(nbd), 'names a parent'),
        'parent hint to /proc/self/fd/N': (hint('/proc/self/fd/4'), 'names a parent'),
        'parent hint without parentCID': (lambda t: t.replace(
            'parentCID=ffffffff', 'parentCID=ffffffff\nparentFileNameHint="%s"' % secret),
            'names a parent'),
        'delta vmfsSparse': (lambda t: t.replace('monolithicSparse', 'vmfsSparse'),
                             "createType 'vmfsSparse' is not allowed"),
        'delta seSparse': (lambda t: t.replace('monolithicSparse', 'seSparse'),
                           "createType 'seSparse'"),
        'flat createType': (lambda t: t.replace('monolithicSparse', 'monolithicFlat'),
                            "createType 'monolithicFlat'"),
        'extent at an absolute path': (extents('RW 6144 SPARSE "%s"' % secret),
                                       'is not the file itself'),
        'extent going up': (extents('RW 6144 SPARSE ".."'), 'is not the file itself'),
        'flat extent of a host file': (extents('RW 6144 FLAT "cinder.conf" 0'),
                                       'is not the file itself'),
        'extent at an nbd:// URL': (extents('RW 6144 FLAT "%s" 0' % nbd),
                                    'is not the file itself'),
        'two extents': (extents('RW 6144 SPARSE "disk.vmdk"', 'RW 6144 SPARSE "b.vmdk"'),
                        'names 2 extents'),
        'unknown line': (lambda t: t + 'include "%s"\n' % secret, 'a line it may not have'),
    }


HOSTILE_NAMES = sorted(hostile_descriptors(pathlib.Path('/x'), 1))


@pytest.fixture(scope='module')
def monolithic(raw, work) -> bytes:
    return sparse(raw, work / 'plain-sparse.vmdk')


@pytest.fixture(scope='module')
def stream_optimized(raw, work) -> bytes:
    return sparse(raw, work / 'plain-stream.vmdk', 'streamOptimized')


def write(path: pathlib.Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize('case', HOSTILE_NAMES)
def test_hostile_descriptor_is_refused_on_every_path(case, monolithic, stream_optimized,
                                                     secret, listener, tmp_path):
    edit, message = hostile_descriptors(secret, listener.port)[case]
    sparse_bad = with_descriptor(monolithic, edit)
    stream_bad = with_descriptor(stream_optimized, lambda t: edit(
        t.replace('streamOptimized', 'monolithicSparse')).replace('monolithicSparse',
                                                                  'streamOptimized'))
    with pytest.raises(formats.ImageUnacceptable, match=message):      # spooled file
        formats.probe_file(write(tmp_path / 'disk.vmdk', sparse_bad))
    with pytest.raises(formats.ImageUnacceptable, match=message):      # vsphere:// head
        formats.sparse_disk_head(sparse_bad[:formats.HEAD_BYTES], 'disk.vmdk')
    if 'createType' not in message:
        with pytest.raises(formats.ImageUnacceptable, match=message):  # streamed head
            formats.stream_optimized_head(stream_bad[:formats.HEAD_BYTES])
    assert listener.connections == 0


@pytest.mark.parametrize('case', ['capacity 0 (qemu opens the descriptor\'s extents)',
                                  'text descriptor naming a sparse neighbour',
                                  'text descriptor naming a host file'])
def test_descriptor_qemu_would_follow_is_refused(case, monolithic, secret, tmp_path):
    text = ('# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
            'createType="%s"\nRW 6144 %s\n')
    data = {
        'capacity 0 (qemu opens the descriptor\'s extents)': lambda: with_header(
            with_descriptor(monolithic, extents('RW 6144 FLAT "%s" 0' % secret)),
            capacity=0),
        'text descriptor naming a sparse neighbour': lambda: (
            text % ('monolithicSparse', 'SPARSE "other.vmdk"')).encode(),
        'text descriptor naming a host file': lambda: (
            text % ('monolithicFlat', 'FLAT "%s" 0' % secret)).encode(),
    }[case]()
    path = write(tmp_path / 'disk.vmdk', data)
    with pytest.raises(formats.ImageUnacceptable, match='capacity 0|VMDK descriptor whose'):
        formats.probe_file(path)
    for check in (formats.stream_optimized_head,
                  lambda head: formats.sparse_disk_head(head, 'disk.vmdk')):
        with pytest.raises(formats.ImageUnacceptable):
            check(data[:formats.HEAD_BYTES])


def stream_check(data: bytes, chunk=MiB) -> None:
    stream = formats.stream_optimized_head(data[:formats.HEAD_BYTES])
    assert stream is not None
    for start in range(formats.HEAD_BYTES, len(data), chunk):
        stream.feed(data[start:start + chunk])
    formats.check_stream_end(stream)


def test_vsphere_layout_stream_is_read_by_qemu_and_passes(raw, tmp_path):
    data = vsphere_stream(raw.read_bytes())
    path = write(tmp_path / 'vsphere.vmdk', data)
    qemu_img('convert', '-f', 'vmdk', '-O', 'raw', path, str(tmp_path / 'back.raw'))
    assert (tmp_path / 'back.raw').read_bytes() == raw.read_bytes()
    stream_check(data)
    stream_check(data, chunk=4096)
    assert formats.probe_file(path).subformat == 'streamOptimized'


def test_compressible_stream_padded_with_zeros_after_its_end_passes(tmp_path):
    """qemu-img pads a small (well compressed) stream with zeros after its end-of-stream
    marker: that is no data, and the image is sound."""
    raw = write(tmp_path / 'disk.raw', bytes(MiB) + os.urandom(4096) + bytes(MiB - 4096))
    vmdk_path = str(tmp_path / 'disk.vmdk')
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=streamOptimized', raw, vmdk_path], check=True)
    data = pathlib.Path(vmdk_path).read_bytes()
    stream_check(data)
    stream_check(data, chunk=4096)


def corrupt_streams(raw: bytes, qemu_stream: bytes) -> dict:
    ours = vsphere_stream(raw)
    half = len(qemu_stream) // 2
    grain_end = half - half % SECTOR
    return {
        'qemu layout cut in half': (qemu_stream[:half], 'truncated'),
        'qemu layout cut at a sector': (qemu_stream[:grain_end], 'truncated'),
        'qemu layout without its last grain': (qemu_stream[:-(65 * 1024) // SECTOR * SECTOR
                                                           - SECTOR], 'truncated'),
        'vsphere layout cut in half': (ours[:len(ours) // 2], 'truncated'),
        'vsphere layout without end-of-stream': (ours[:-SECTOR], 'truncated'),
        'vsphere layout with bytes after its end': (ours + b'\x01' * SECTOR, 'goes on after'),
        'vsphere layout with a grain table past the end': (
            shift_table_entry(ours, 10 ** 6), 'truncated or corrupt'),
    }


CORRUPT_NAMES = ['qemu layout cut at a sector', 'qemu layout cut in half',
                 'qemu layout without its last grain', 'vsphere layout cut in half',
                 'vsphere layout with a grain table past the end',
                 'vsphere layout with bytes after its end',
                 'vsphere layout without end-of-stream']


@pytest.mark.parametrize('case', CORRUPT_NAMES)
def test_truncated_or_inconsistent_stream_is_refused_streamed_and_spooled(
        case, raw, stream_optimized, tmp_path):
    data, message = corrupt_streams(raw.read_bytes(), stream_optimized)[case]
    with pytest.raises(formats.ImageUnacceptable, match=message):
        stream_check(data)
    with pytest.raises(formats.ImageUnacceptable, match=message):
        formats.probe_file(write(tmp_path / 'disk.vmdk', data))


ODD_CHUNK = 509     # prime, under a sector: cuts markers, tables and grains anywhere


def test_streams_pass_in_chunks_that_cut_markers_and_grains(raw, stream_optimized):
    for data in (stream_optimized, vsphere_stream(raw.read_bytes())):
        stream_check(data, chunk=ODD_CHUNK)


@pytest.mark.parametrize('case', CORRUPT_NAMES)
def test_corrupt_streams_are_refused_in_chunks_that_cut_markers_and_grains(
        case, raw, stream_optimized):
    data, message = corrupt_streams(raw.read_bytes(), stream_optimized)[case]
    with pytest.raises(formats.ImageUnacceptable, match=message):
        stream_check(data, chunk=ODD_CHUNK)


@pytest.mark.parametrize('case', ['grain table past the end', 'grain directory past the end',
                                  'file cut in half'])
def test_monolithic_sparse_pointing_past_its_end_is_refused(case, monolithic, tmp_path):
    header = vmdk.Header.parse(monolithic)
    directory = header.gd_offset * SECTOR
    table = struct.unpack_from('<I', monolithic, directory)[0] * SECTOR
    data = {
        'grain table past the end': lambda: patched(monolithic, table, 10 ** 6),
        'grain directory past the end': lambda: with_header(monolithic, gd_offset=10 ** 6),
        'file cut in half': lambda: monolithic[:len(monolithic) // 2],
    }[case]()
    with pytest.raises(formats.ImageUnacceptable, match='past the end'):
        formats.probe_file(write(tmp_path / 'disk.vmdk', data))


def test_sound_images_still_pass(monolithic, stream_optimized, tmp_path):
    assert formats.probe_file(write(tmp_path / 'a.vmdk', monolithic)).subformat \
        == 'monolithicSparse'
    assert formats.probe_file(write(tmp_path / 'b.vmdk', stream_optimized)).subformat \
        == 'streamOptimized'
    assert formats.sparse_disk_head(monolithic[:formats.HEAD_BYTES], 'plain-sparse.vmdk') \
        is not None
    stream_check(stream_optimized)


# Confinement: qemu-img through our wrapper, on files our checks never saw.

def _bypass_cases(secret: pathlib.Path, port: int) -> dict:
    """Hostile files by name: builders from a plain monolithicSparse VMDK's bytes."""
    nbd = 'nbd://127.0.0.1:%d/export' % port
    flat = extents('RW 6144 FLAT "%s" 0' % secret)
    return {
        'parent hint to a host file': lambda data: with_descriptor(data, hint(str(secret))),
        'parent hint to nbd://': lambda data: with_descriptor(data, hint(nbd)),
        'parent hint to /proc/self/fd/N': lambda data: with_descriptor(
            data, hint('/proc/self/fd/0')),
        'capacity 0, its descriptor naming a host file': lambda data: with_header(
            with_descriptor(data, lambda t: flat(t.replace('monolithicSparse',
                                                           'monolithicFlat'))), capacity=0),
        'text descriptor naming a host file': lambda data: (
            '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
            'createType="monolithicFlat"\nRW 6144 FLAT "%s" 0\n' % secret).encode(),
    }


def _hostile_file(case, monolithic, secret, port, tmp_path) -> str:
    return write(tmp_path / 'hostile.vmdk', _bypass_cases(secret, port)[case](monolithic))


def _opened_or_connected(log: pathlib.Path, secret: pathlib.Path) -> list[str]:
    """strace lines in which qemu-img opened the canary or any /proc/self/fd, or connected
    anywhere (successfully or not)."""
    return [line for line in log.read_text().splitlines()
            if str(secret) in line or '/proc/self/fd/' in line or 'connect(' in line
            and 'AF_INET' in line and '= 0' in line]


@pytest.mark.parametrize('case', sorted(_bypass_cases(pathlib.Path('/x'), 1)))
def test_qemu_img_confined_reads_only_the_image(case, monolithic, secret, listener, traced,
                                                tmp_path):
    path = _hostile_file(case, monolithic, secret, listener.port, tmp_path)
    out = str(tmp_path / 'out.vmdk')
    for call in (lambda: qemu.info(path, 'vmdk'), lambda: qemu.check(path, 'vmdk'),
                 lambda: qemu.convert(path, 'vmdk', out, 'vmdk', 'subformat=streamOptimized',
                                      60)):
        try:
            call()
        except formats.ImageUnacceptable:
            pass        # qemu-img may fail on the missing parent; it must not read it
        # a file qemu would read through its descriptor is not given to qemu-img at all
        assert traced.exists() is ('descriptor' not in case)
        assert not traced.exists() or _opened_or_connected(traced, secret) == []
    assert listener.connections == 0
    if os.path.exists(out):
        assert SECRET not in pathlib.Path(out).read_bytes()


@pytest.mark.parametrize('case', sorted(_bypass_cases(pathlib.Path('/x'), 1)))
def test_unconfined_qemu_img_would_have_read_the_canary(case, monolithic, secret, listener,
                                                        traced, tmp_path):
    """The canaries work: plain ``qemu-img convert -f vmdk`` follows each file."""
    path = _hostile_file(case, monolithic, secret, listener.port, tmp_path)
    with open(secret, 'rb') as stdin:
        subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw', path,
                        str(tmp_path / 'out.raw')], stdin=stdin, capture_output=True,
                       timeout=30)
    log = traced.read_text()
    assert listener.connections > 0 or str(secret) in log or '/proc/self/fd/0' in log


def test_qemu_img_is_not_run_when_it_cannot_be_confined(raw, tmp_path, monkeypatch):
    shim = tmp_path / 'bin'
    shim.mkdir()
    (shim / 'unshare').write_text('#!/bin/sh\necho "unshare: unshare failed: Operation not '
                                  'permitted" >&2\nexit 1\n')
    (shim / 'unshare').chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (shim, os.environ['PATH']))
    with pytest.raises(qemu.Unconfined, match='Operation not permitted.*unprivileged_userns'):
        formats.probe_file(str(raw))


def test_qemu_img_runs_without_network(listener, traced):
    """Even a network URL handed to qemu-img itself connects nowhere (its namespace has no
    network); plain qemu-img does connect."""
    url = 'nbd://127.0.0.1:%d/export' % listener.port
    with pytest.raises(formats.ImageUnacceptable, match='qemu-img info refused'):
        qemu.run('info', url)
    assert listener.connections == 0
    assert 'ENETUNREACH' in traced.read_text()
    subprocess.run(['qemu-img', 'info', url], capture_output=True, timeout=30)
    assert listener.connections == 1


def test_qcow2_with_an_external_data_file_is_not_given_to_qemu_img(secret, traced, tmp_path):
    path = str(tmp_path / 'data-file.qcow2')
    qemu_img('create', '-f', 'qcow2', '-o', 'data_file=%s,data_file_raw=on' % secret, path,
             '1M')
    traced.unlink(missing_ok=True)
    for call in (lambda: qemu.info(path, 'qcow2'), lambda: qemu.check(path, 'qcow2'),
                 lambda: qemu.convert(path, 'qcow2', path + '.vmdk', 'vmdk',
                                      'subformat=streamOptimized', 60)):
        with pytest.raises(formats.ImageUnacceptable, match='data file'):
            call()
    assert not traced.exists()
    with pytest.raises(formats.ImageUnacceptable, match='data file|unsafe'):
        formats.probe_file(path)


def test_vsphere_head_with_tables_past_the_file_end_is_refused(monolithic):
    head = monolithic[:formats.HEAD_BYTES]
    name = 'plain-sparse.vmdk'
    assert formats.sparse_disk_head(head, name, len(monolithic)) is not None
    with pytest.raises(formats.ImageUnacceptable, match='grain table 0 points past the end'):
        formats.sparse_disk_head(head, name, len(monolithic) // 2)
    with pytest.raises(formats.ImageUnacceptable, match='grain directory points past'):
        formats.sparse_disk_head(with_header(head, gd_offset=10 ** 6), name, len(monolithic))
