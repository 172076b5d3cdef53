"""Image import throughput: our NFC import of a streamOptimized image next to a raw HTTP PUT
of the same bytes to the same simulator, and the process's peak memory.

    python -m vmdk_volume.bench_images [--size-mib 256]

The image is written to a temporary directory in 1 MiB pieces and read back the same way,
so any growth of the peak RSS beyond idle is what the transfer itself holds.
"""

import argparse
import os
import pathlib
import resource
import subprocess
import tempfile
import time
import types
import uuid

import requests

from vmdk_volume import backend as vbackend
from vmdk_volume import backings, images, options, volume_type
from vmdk_volume.images import formats, importer
from vmdk_volume.simkit import Simulator

MiB = 1024 ** 2
GiB = 1024 ** 3


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _make_image(workdir: pathlib.Path, size_mib: int) -> pathlib.Path:
    raw = workdir / 'image.raw'
    with open(raw, 'wb') as out:
        for _ in range(size_mib):
            out.write(os.urandom(MiB))
    vmdk = workdir / 'image.vmdk'
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=streamOptimized', str(raw), str(vmdk)], check=True)
    raw.unlink()
    return vmdk


def _backend(vc: Simulator) -> vbackend.Backend:
    values = {opt.dest: opt.default for opt in options.vmdk_opts}
    values.update(vmware_host_ip=vc.host, vmware_host_port=vc.port,
                  vmware_host_username='admin', vmware_host_password='secret',
                  vmware_ca_file=vc.ca_file, vmware_image_cache_enabled=False)
    return vbackend.Backend.connect(
        options.BackendConfig.from_options(types.SimpleNamespace(**values)))


def _request(size: int) -> backings.BackingRequest:
    volume_id = str(uuid.uuid4())
    return backings.BackingRequest(volume_id=volume_id, name='volume-' + volume_id,
                                   size_bytes=size, profile=volume_type.parse({}))


def raw_put(backend: vbackend.Backend, vc: Simulator, path: pathlib.Path) -> float:
    """Seconds for a plain ``requests.put`` of the file to an import lease's URL."""
    request, where, folder = backend.prepare_backing(_request(GiB), ('bench',))
    lease = backend.backings.import_lease(request, where, folder)
    entity, urls = lease.wait_ready(60)
    start = time.monotonic()
    with open(path, 'rb') as data:
        reply = requests.put(urls[0].url, data=data, verify=vc.ca_file, timeout=60)
    seconds = time.monotonic() - start
    reply.raise_for_status()
    lease.complete()
    backend.backings.delete(entity)
    return seconds


def our_import(backend: vbackend.Backend, path: pathlib.Path) -> float:
    """Seconds for ``Images.import_image`` of the file served as a Glance image."""
    meta = formats.ImageMeta.from_glance({
        'id': str(uuid.uuid4()), 'disk_format': 'vmdk', 'container_format': 'bare',
        'size': path.stat().st_size,
        'properties': {'vmware_disktype': 'streamOptimized'}})

    def chunks():
        with open(path, 'rb') as data:
            while chunk := data.read(64 * 1024):      # what glanceclient yields
                yield chunk
    start = time.monotonic()
    ref = images.Images(backend).import_image(importer.ImageData(meta, chunks), _request(GiB),
                                              uuid.uuid4().hex)
    seconds = time.monotonic() - start
    backend.backings.delete(ref)
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size-mib', type=int, default=256)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Simulator() as vc:
        path = _make_image(pathlib.Path(tmp), args.size_mib)
        backend = _backend(vc)
        raw_put(backend, vc, path)              # warm-up: TLS, caches, folders
        idle = _peak_rss_mib()
        size = path.stat().st_size / MiB
        put_s = raw_put(backend, vc, path)
        ours_s = our_import(backend, path)
        peak = _peak_rss_mib()
        backend.close()
    put_rate, our_rate = size / put_s, size / ours_s
    print('image: %d MiB of random data as streamOptimized VMDK (%.1f MiB)'
          % (args.size_mib, size))
    print('%-34s %8s %9s' % ('transfer', 'seconds', 'MiB/s'))
    print('%-34s %8.2f %9.1f' % ('raw HTTP PUT (requests)', put_s, put_rate))
    print('%-34s %8.2f %9.1f  %.0f%% of raw (goal >= 80%%)'
          % ('copy_image_to_volume import', ours_s, our_rate, 100 * our_rate / put_rate))
    print('peak RSS: %.1f MiB idle, %.1f MiB after, +%.1f MiB (goal < 100 MiB)'
          % (idle, peak, peak - idle))


if __name__ == '__main__':
    main()
