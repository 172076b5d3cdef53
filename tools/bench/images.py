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

"""Image import throughput and memory: our NFC import of a streamOptimized image next to a
raw HTTP PUT of the same bytes to the same simulator, and the process's peak memory above
idle while it imports that image (the direct path) and a qcow2 image of the same data (the
spool-and-convert path).

    python -m tools.bench.images [--size 256M]

The images are written to a temporary directory in 1 MiB pieces and served in 64 KiB chunks
as glanceclient does. Before each import the kernel's peak-RSS mark is reset
(``/proc/self/clear_refs``), so the growth of ``VmHWM`` over the RSS before the import is
what that import held. qemu-img runs as a child process: its own peak is shown apart.
"""

import argparse
import contextlib
import os
import pathlib
import resource
import subprocess
import tempfile
import time
import types
import uuid
from collections.abc import Iterator

import requests
from vmdk_volume_simkit import Simulator

from vmdk_volume.core import backend as vbackend
from vmdk_volume.core import backings, volume_type, wiring
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import formats, importer
from vmdk_volume.driver import options
from vmdk_volume.units import GiB, MiB


def parse_size(text: str) -> int:
    """Bytes of ``text`` such as ``256M`` or ``1G`` (MiB if no unit)."""
    units = {'K': 1024, 'M': MiB, 'G': GiB}
    unit = text[-1:].upper()
    if unit in units:
        return int(float(text[:-1]) * units[unit])
    return int(text) * MiB


def _status_mib(field: str) -> float:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    raise LookupError(field)


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[dict]:
    """Measures the peak RSS growth (MiB) of the block into ``['growth']``."""
    with open('/proc/self/clear_refs', 'w') as refs:
        refs.write('5')                     # reset VmHWM to the current RSS
    result = {'idle': _status_mib('VmRSS')}
    yield result
    result['peak'] = _status_mib('VmHWM')
    result['growth'] = result['peak'] - result['idle']


def _make_images(workdir: pathlib.Path, size: int) -> dict[str, pathlib.Path]:
    raw = workdir / 'image.raw'
    with open(raw, 'wb') as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))
    made = {}
    for fmt, extra in (('vmdk', ['-o', 'subformat=streamOptimized']), ('qcow2', [])):
        made[fmt] = workdir / ('image.' + fmt)
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', fmt, *extra, str(raw),
                        str(made[fmt])], check=True)
    raw.unlink()
    return made


def _services(vc: Simulator, tmp_dir: str) -> wiring.Services:
    values = {opt.dest: opt.default for opt in options.vmdk_opts}
    values.update(vmware_host_ip=vc.host, vmware_host_port=vc.port,
                  vmware_host_username='admin', vmware_host_password='secret',
                  vmware_ca_file=vc.ca_file, vmware_image_cache_enabled=False,
                  vmware_tmp_dir=tmp_dir)
    return wiring.wire(vbackend.Backend.connect(
        BackendConfig.from_options(types.SimpleNamespace(**values))))


def _request(size: int) -> backings.BackingRequest:
    volume_id = str(uuid.uuid4())
    return backings.BackingRequest(volume_id=volume_id, name='volume-' + volume_id,
                                   size_bytes=size, profile=volume_type.parse({}))


def raw_put(services: wiring.Services, vc: Simulator, path: pathlib.Path,
            volume_size: int) -> float:
    """Seconds for a plain ``requests.put`` of the file to an import lease's URL."""
    _, lease = services.provisioner.start_import(_request(volume_size), ('bench',))
    entity, urls = lease.wait_ready(60)
    start = time.monotonic()
    with open(path, 'rb') as data:
        reply = requests.put(urls[0].url, data=data, verify=vc.ca_file, timeout=60)
    seconds = time.monotonic() - start
    reply.raise_for_status()
    lease.complete()
    services.backings.delete(entity)
    return seconds


def our_import(services: wiring.Services, path: pathlib.Path, volume_size: int) -> float:
    """Seconds for ``Images.import_image`` of the file served as a Glance image."""
    vmdk = path.suffix == '.vmdk'
    meta = formats.ImageMeta.from_glance({
        'id': str(uuid.uuid4()), 'disk_format': 'vmdk' if vmdk else 'qcow2',
        'container_format': 'bare', 'size': path.stat().st_size,
        'properties': {'vmware_disktype': 'streamOptimized'} if vmdk else {}})

    def chunks():
        with open(path, 'rb') as data:
            while chunk := data.read(64 * 1024):      # what glanceclient yields
                yield chunk
    start = time.monotonic()
    ref = services.images.import_image(importer.ImageData(meta, chunks), _request(volume_size),
                                       uuid.uuid4().hex)
    seconds = time.monotonic() - start
    services.backings.delete(ref)
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=parse_size, default=parse_size('256M'),
                        help='image data size, e.g. 256M or 1G (default 256M)')
    args = parser.parse_args(argv)
    volume_size = max(GiB, -(-args.size // GiB) * GiB)
    with tempfile.TemporaryDirectory() as tmp, Simulator() as vc:
        paths = _make_images(pathlib.Path(tmp), args.size)
        services = _services(vc, tmp)
        raw_put(services, vc, paths['vmdk'], volume_size)   # warm-up: TLS, caches, folders
        put_s = raw_put(services, vc, paths['vmdk'], volume_size)
        with peak_rss_growth() as direct:
            ours_s = our_import(services, paths['vmdk'], volume_size)
        with peak_rss_growth() as converted:
            conv_s = our_import(services, paths['qcow2'], volume_size)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        services.backend.close()
        size, qcow2_size = (paths[fmt].stat().st_size / MiB for fmt in ('vmdk', 'qcow2'))
    put_rate, our_rate = size / put_s, size / ours_s
    print('image: %.0f MiB of random data; streamOptimized VMDK %.1f MiB, qcow2 %.1f MiB'
          % (args.size / MiB, size, qcow2_size))
    print('%-34s %8s %9s' % ('transfer', 'seconds', 'MiB/s'))
    print('%-34s %8.2f %9.1f' % ('raw HTTP PUT (requests)', put_s, put_rate))
    print('%-34s %8.2f %9.1f  %.0f%% of raw (goal >= 80%%)'
          % ('import, streamOptimized (direct)', ours_s, our_rate, 100 * our_rate / put_rate))
    print('%-34s %8.2f' % ('import, qcow2 (spool + convert)', conv_s))
    for name, rss in (('streamOptimized', direct), ('qcow2', converted)):
        print('peak RSS, %-15s import: %.1f MiB before, %.1f MiB peak, +%.1f MiB '
              '(goal < 100 MiB)' % (name, rss['idle'], rss['peak'], rss['growth']))
    print('peak RSS of the largest child process (qemu-img): %.1f MiB' % children)


if __name__ == '__main__':
    main()
