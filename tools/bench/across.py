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
disk: time, throughput, CPU time of each process and the machine's busy share, and the
benchmark's peak memory above idle; unpaced, then with both simulators' NFC transfers paced
at an ESXi host's NFC link rate.

    python -m tools.bench.across [--size 1G] [--nfc-rate BYTES_PER_S]

The source backing holds that much random data (imported from a streamOptimized image).
The export reads the disk's export stream to the end and drops it; the move
(``core.across.move``) streams it into an import on the other simulator. Each is timed
whole and from the moment its export lease is ready: the simulator makes the
streamOptimized export when ``ExportVm`` is called (``qemu-img``, seconds per GiB of random
data), which a real vCenter does as it streams. From that moment to the end, the CPU seconds
of this process and of each simulator (``/proc/<pid>/stat``: user and system, not their
``qemu-img`` children) and how busy the machine's CPUs were (``/proc/stat``, every process).
Unpaced, the two simulators, this process and TLS at four ends share this machine's CPUs;
paced (``--nfc-rate``, default 1.3 Gbps: VMware's peak figure for NFC, see
doc/source/performance.rst), each transfer runs at most at the link rate, as on separate
ESXi hosts. The paced pair moves the disk back: the target's copy is exported and moved to
the first simulator. Peak RSS as in ``tools.bench.images``.
"""

import argparse
import dataclasses
import os
import pathlib
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

NFC_PEAK = 1_300_000_000 // 8     # bytes/s: VMware's "peak performance 1.3 Gbps" for NFC
TICK = os.sysconf('SC_CLK_TCK')


@dataclasses.dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by each watched process, and by the whole machine (busy
    and all, every CPU)."""

    processes: tuple[float, ...]
    busy: float
    total: float

    @classmethod
    def take(cls, pids: tuple[int, ...]) -> 'CpuSample':
        with open('/proc/stat') as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
        idle = ticks[3] + ticks[4]      # idle, iowait
        return cls(tuple(_process_cpu_s(pid) for pid in pids),
                   (sum(ticks[:8]) - idle) / TICK, sum(ticks[:8]) / TICK)

    def since(self, earlier: 'CpuSample') -> tuple[tuple[float, ...], float, float]:
        """Each process's CPU seconds since ``earlier``, the share of the machine's CPU
        time that was busy, and the busy CPU seconds of every other process."""
        spent = tuple(now - then for now, then in zip(self.processes, earlier.processes,
                                                           strict=True))
        busy = self.busy - earlier.busy
        return spent, busy / max(self.total - earlier.total, 1e-9), max(busy - sum(spent), 0)


def _process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of the process ``pid`` (all its threads)."""
    with open('/proc/%d/stat' % pid) as stat:
        fields = stat.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK      # utime, stime


class _LeaseClock:
    """Notes when the first lease since ``start`` was ready (``Lease.wait_ready``
    returned: the export's) and the CPU then, and how long the move's stream took
    (``transfer.upload``)."""

    def __init__(self, pids: tuple[int, ...]):
        self.pids = pids
        self.ready_at: float | None = None
        self.ready_cpu: CpuSample | None = None
        self.streamed_s = 0.0
        wait_ready, upload = leases.Lease.wait_ready, transfer.upload

        def timed(lease, timeout_s):
            answer = wait_ready(lease, timeout_s)
            if self.ready_at is None:
                self.ready_at, self.ready_cpu = time.monotonic(), CpuSample.take(self.pids)
            return answer

        def timed_upload(*args, **kwargs):
            start = time.monotonic()
            upload(*args, **kwargs)
            self.streamed_s = time.monotonic() - start
        leases.Lease.wait_ready = timed
        transfer.upload = timed_upload

    def start(self) -> float:
        self.ready_at = self.ready_cpu = None
        return time.monotonic()

    def cpu_since_ready(self) -> tuple[tuple[float, ...], float, float]:
        return CpuSample.take(self.pids).since(self.ready_cpu)


@dataclasses.dataclass(frozen=True)
class Run:
    """One transfer measured: seconds whole and from its export lease ready, the CPU
    seconds of this process and both simulators from then, the machine's busy share and
    the CPU seconds of every other process."""

    whole_s: float
    nfc_s: float
    cpu_s: tuple[float, ...]
    busy: float
    others_s: float


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


def _export(services, backing, clock: _LeaseClock) -> tuple[Run, int]:
    """A plain export read out, and its bytes."""
    read = []

    def drain(data):
        while chunk := data.read(MiB):
            read.append(len(chunk))
    start = clock.start()
    services.images.export(backing.ref, backing.size_bytes, drain, 'bench')
    return _ended(clock, start), sum(read)


def _move(source, target, backing, request, clock: _LeaseClock):
    """The move of ``backing`` from ``source`` to ``target``, and the backing it made."""
    start = clock.start()
    landed = across.move(across.Side.of(source), across.Side.of(target), backing, request,
                         uuid.uuid4().hex)
    return _ended(clock, start), landed


def _ended(clock: _LeaseClock, start: float) -> Run:
    end = time.monotonic()
    return Run(end - start, end - clock.ready_at, *clock.cpu_since_ready())


@dataclasses.dataclass(frozen=True)
class Pair:
    """An export and the move of the same disk; the move's stream alone; the export's
    bytes; the backing the move made."""

    export: Run
    move: Run
    streamed_s: float
    size: int
    landed: object


def _pair(first, second, backing, request, clock: _LeaseClock) -> Pair:
    """An export of ``backing`` on ``first``, then its move to ``second``."""
    export, size = _export(first, backing, clock)
    move, landed = _move(first, second, backing, request, clock)
    return Pair(export, move, clock.streamed_s, size, landed)


def _report(title: str, pair: Pair, mib: float, names: tuple[str, str, str]) -> None:
    export, move, streamed_s = pair.export, pair.move, pair.streamed_s
    print(title)
    print('%-26s %8s %9s %12s %9s' % ('transfer', 'seconds', 'MiB/s', 'from lease s',
                                      'MiB/s'))
    for name, whole, nfc in ((names[0], export.whole_s, export.nfc_s),
                             (names[1], move.whole_s, move.nfc_s),
                             (names[2], streamed_s, streamed_s)):
        print('%-26s %8.2f %9.1f %12.2f %9.1f' % (name, whole, mib / whole, nfc, mib / nfc))
    print('move: %.0f%% of the export\'s throughput from the lease (its stream alone: %.0f%%), '
          '%.0f%% whole (goal >= 80%%)' % (100 * export.nfc_s / move.nfc_s,
                                          100 * export.nfc_s / streamed_s,
                                          100 * export.whole_s / move.whole_s))
    for name, run in (('export', export), ('move', move)):
        bench, first, second = run.cpu_s
        print('CPU s from the lease, %-6s: this process %.2f (%.1f ms/MiB), source '
              'simulator %.2f, target simulator %.2f, other processes %.2f; machine %.0f%% '
              'busy' % (name, bench, 1000 * bench / mib, first, second, run.others_s,
                        100 * run.busy))


def _rate(text: str) -> int:
    """A positive number of bytes per second."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError('%r is not a positive number of bytes per second'
                                         % text)
    return int(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=parse_size, default=parse_size('1G'),
                        help='disk data size, e.g. 256M or 1G (default 1G)')
    parser.add_argument('--nfc-rate', type=_rate, default=NFC_PEAK,
                        help='bytes/s of each paced NFC transfer (default %d: 1.3 Gbps)'
                        % NFC_PEAK)
    args = parser.parse_args(argv)
    volume_size = max(GiB, -(-args.size // GiB) * GiB)
    with tempfile.TemporaryDirectory() as tmp, Simulator() as vc1, Simulator() as vc2:
        clock = _LeaseClock((os.getpid(), vc1.pid, vc2.pid))
        source, target = _services(vc1, tmp), _services(vc2, tmp)
        backing, request = _source_backing(source, pathlib.Path(tmp), args.size,
                                           volume_size)
        with peak_rss_growth() as rss:
            unpaced = _pair(source, target, backing, request, clock)
        for vc in (vc1, vc2):
            vc.configure(nfc_rate=args.nfc_rate)
        clock.pids = (os.getpid(), vc2.pid, vc1.pid)    # the disk moves back
        paced = _pair(target, source, unpaced.landed, request, clock)
        source.backings.delete(paced.landed.ref)
        source.backend.close()
        target.backend.close()
    mib = unpaced.size / MiB
    print('disk: %.0f MiB of random data; export stream %.1f MiB; %d CPUs'
          % (args.size / MiB, mib, os.cpu_count()))
    _report('unpaced, as fast as this machine goes:', unpaced, mib,
            ('NFC export (read out)', 'move to another vCenter', 'move, the stream alone'))
    _report('paced at %.1f MiB/s per NFC transfer (%.2f Gbps):'
            % (args.nfc_rate / MiB, args.nfc_rate * 8 / 1e9), paced, mib,
            ('paced NFC export', 'paced move', 'paced move, stream alone'))
    print('peak RSS, unpaced export and move: %.1f MiB before, %.1f MiB peak, +%.1f MiB '
          '(goal < 100 MiB)' % (rss['idle'], rss['peak'], rss['growth']))


if __name__ == '__main__':
    main()
