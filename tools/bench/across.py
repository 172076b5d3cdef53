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

"""A volume moved between two simulated vCenters next to a plain NFC export of the same
disk: time, throughput and the process's peak memory above idle.

    python -m tools.bench.across [--size 1G]

The source backing holds that much random data (imported from a streamOptimized image).
The export reads the disk's export stream to the end and drops it; the move
(``core.across.move``) streams it into an import on the other simulator. Each is timed
whole and from the moment its export lease is ready: the simulator makes the
streamOptimized export when ``ExportVm`` is called (``qemu-img``, seconds per GiB of random
data), which a real vCenter does as it streams. Peak RSS as in ``tools.bench.images``; the
CPU time this process spent on each (the move decrypts and encrypts every byte).
"""

import argparse
import pathlib
import resource
import subprocess
import tempfile
import time
import uuid

from vmdk_volume_simkit import Simulator

from tools.bench.images import _request, _services, parse_size, peak_rss_growth
from vmdk_volume.core import across
from vmdk_volume.core.images import formats, importer, transfer
from vmdk_volume.units import GiB, MiB
from vmdk_volume.vsphere import leases


class _LeaseClock:
    """Notes when the first lease since ``start`` was ready (``Lease.wait_ready``
    returned: the export's), and how long the move's stream took (``transfer.upload``)."""

    def __init__(self):
        self.ready_at: float | None = None
        self.streamed_s = 0.0
        wait_ready, upload = leases.Lease.wait_ready, transfer.upload

        def timed(lease, timeout_s):
            answer = wait_ready(lease, timeout_s)
            self.ready_at = self.ready_at or time.monotonic()
            return answer

        def timed_upload(*args, **kwargs):
            start = time.monotonic()
            upload(*args, **kwargs)
            self.streamed_s = time.monotonic() - start
        leases.Lease.wait_ready = timed
        transfer.upload = timed_upload

    def start(self) -> float:
        self.ready_at = None
        return time.monotonic()


def _source_backing(services, workdir: pathlib.Path, size: int, volume_size: int):
    raw, vmdk = workdir / 'disk.raw', workdir / 'disk.vmdk'
    subprocess.run(['head', '-c', str(size), '/dev/urandom'], stdout=raw.open('wb'),
                   check=True)
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=streamOptimized', str(raw), str(vmdk)], check=True)
    raw.unlink()
    meta = formats.ImageMeta.from_glance({
        'id': str(uuid.uuid4()), 'disk_format': 'vmdk', 'container_format': 'bare',
        'size': vmdk.stat().st_size, 'properties': {'vmware_disktype': 'streamOptimized'}})

    def chunks():
        with open(vmdk, 'rb') as data:
            while chunk := data.read(MiB):
                yield chunk
    request = _request(volume_size)
    ref = services.images.import_image(importer.ImageData(meta, chunks), request,
                                       uuid.uuid4().hex)
    return services.backings.describe(ref), request


def _cpu_s() -> float:
    """CPU seconds this process has used (user and system, all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _export(services, backing, clock: _LeaseClock) -> tuple[float, float, int]:
    """Seconds whole and from the lease ready, and bytes, of a plain export read out."""
    read = []

    def drain(data):
        while chunk := data.read(MiB):
            read.append(len(chunk))
    start = clock.start()
    services.images.export(backing.ref, backing.size_bytes, drain, 'bench')
    end = time.monotonic()
    return end - start, end - clock.ready_at, sum(read)


def _move(source, target, backing, request, clock: _LeaseClock) -> tuple[float, float]:
    start = clock.start()
    landed = across.move(across.Side.of(source), across.Side.of(target), backing, request,
                         uuid.uuid4().hex)
    end = time.monotonic()
    target.backings.delete(landed.ref)
    return end - start, end - clock.ready_at


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=parse_size, default=parse_size('1G'),
                        help='disk data size, e.g. 256M or 1G (default 1G)')
    args = parser.parse_args(argv)
    volume_size = max(GiB, -(-args.size // GiB) * GiB)
    clock = _LeaseClock()
    with tempfile.TemporaryDirectory() as tmp, Simulator() as vc1, Simulator() as vc2:
        source, target = _services(vc1, tmp), _services(vc2, tmp)
        backing, request = _source_backing(source, pathlib.Path(tmp), args.size,
                                           volume_size)
        cpu = _cpu_s()
        export_s, export_nfc_s, size = _export(source, backing, clock)
        cpu, export_cpu_s = _cpu_s(), _cpu_s() - cpu
        with peak_rss_growth() as rss:
            move_s, move_nfc_s = _move(source, target, backing, request, clock)
        move_cpu_s = _cpu_s() - cpu
        source.backend.close()
        target.backend.close()
    mib = size / MiB
    print('disk: %.0f MiB of random data; export stream %.1f MiB' % (args.size / MiB, mib))
    print('%-26s %8s %9s %12s %9s' % ('transfer', 'seconds', 'MiB/s', 'from lease s',
                                      'MiB/s'))
    for name, whole, nfc in (('NFC export (read out)', export_s, export_nfc_s),
                             ('move to another vCenter', move_s, move_nfc_s),
                             ('move, the stream alone', clock.streamed_s,
                              clock.streamed_s)):
        print('%-26s %8.2f %9.1f %12.2f %9.1f' % (name, whole, mib / whole, nfc, mib / nfc))
    print('move: %.0f%% of the export\'s throughput from the lease (its stream alone: %.0f%%), '
          '%.0f%% whole (goal >= 80%%)' % (100 * export_nfc_s / move_nfc_s,
                                          100 * export_nfc_s / clock.streamed_s,
                                          100 * export_s / move_s))
    print('CPU seconds of this process: export %.2f, move %.2f (TLS in and out)'
          % (export_cpu_s, move_cpu_s))
    print('peak RSS, move: %.1f MiB before, %.1f MiB peak, +%.1f MiB (goal < 100 MiB)'
          % (rss['idle'], rss['peak'], rss['growth']))


if __name__ == '__main__':
    main()
