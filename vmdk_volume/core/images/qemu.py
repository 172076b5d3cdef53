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

"""qemu-img run on untrusted images so that it reads nothing but the image's own bytes.

Every run opens the image through a ``json:`` filename: the format driver is named (no
probing), its file is a local file (``file.driver=file``: no protocol, so no ``nbd://`` or
``http://`` top file) and ``"backing": null`` keeps qemu from opening any parent a header
names (qcow2 backing file, VMDK ``parentFileNameHint``, ``/proc/self/fd/N``); a VMDK that
qemu would read through a descriptor's extents, or a qcow2 with an external data file, is
not given to it at all (the other ways its raw, qcow2 and vmdk drivers open a file). It runs
in a private network namespace (``unshare --net``; with user namespaces when not root),
where no connection can leave the host, under ``prlimit`` limits (Cinder's for
introspection). When the namespace cannot be made, qemu-img is not run at all:
``Unconfined`` names the fix; images that need no qemu-img (streamOptimized VMDKs streamed
as they are) still import.
"""

import json
import os
import struct

from oslo_concurrency import processutils
from oslo_log import log as logging

from vmdk_volume.core.images.errors import ImageUnacceptable
from vmdk_volume.units import GiB

LOG = logging.getLogger(__name__)
# Cinder's defaults for image_introspection_cpu_limit and ..._address_space_limit.
INFO_LIMITS = processutils.ProcessLimits(cpu_time=60, address_space=1 * GiB)
CONVERT_ADDRESS_SPACE = 2 * GiB
LEAKS_ONLY = 3           # qemu-img check: leaked clusters, the data is intact
QCOW2_DATA_FILE = 1 << 2  # incompatible feature: the data is in another file


class Unconfined(RuntimeError):
    """qemu-img cannot be confined on this host, so it is not run."""


def image_name(path: str, fmt: str) -> str:
    """``path`` as a ``json:`` filename of format ``fmt``, without backing."""
    spec = {'driver': fmt, 'file': {'driver': 'file', 'filename': os.path.abspath(path)},
            'backing': None}
    return 'json:' + json.dumps(spec, sort_keys=True)


def namespace_command() -> tuple[str, ...]:
    """The command prefix that runs a program without network (tried each time: a host
    whose namespaces stop working refuses the next image), or Unconfined."""
    prefix = ('unshare', '--net') if os.geteuid() == 0 else \
        ('unshare', '--user', '--map-root-user', '--net')
    try:
        processutils.execute(*prefix, '--', 'true')
    except (processutils.ProcessExecutionError, OSError) as error:
        raise Unconfined(
            'qemu-img cannot be run in a private network namespace here (%s failed: %s): '
            'images that need qemu-img are refused until cinder-volume may create one '
            '(run it as root, or allow unprivileged user namespaces, e.g. '
            'sysctl kernel.unprivileged_userns_clone=1)'
            % (' '.join(prefix), str(getattr(error, 'stderr', '') or error).strip())) from None
    return prefix


def _guard(path: str, fmt: str) -> None:
    """Refuse the shapes in which qemu opens files other than the image and its (disabled)
    backing: a VMDK read through a descriptor (text, or a sparse header of capacity 0) and
    a qcow2 with an external data file."""
    with open(path, 'rb') as image:
        head = image.read(80)
    if fmt == 'vmdk' and (not head.startswith(b'KDMV') or len(head) < 20
                          or not struct.unpack_from('<Q', head, 12)[0]):
        raise ImageUnacceptable('qemu-img would read this VMDK through a descriptor naming '
                                'other files: it is not run on it')
    if fmt == 'qcow2' and (len(head) < 80 or struct.unpack_from('>I', head, 4)[0] >= 3
                           and struct.unpack_from('>Q', head, 72)[0] & QCOW2_DATA_FILE):
        raise ImageUnacceptable('a qcow2 image may not have a data file (qemu-img is not run '
                                'on it)')


def run(*args: str, limits: processutils.ProcessLimits = INFO_LIMITS,
        ok_codes: tuple[int, ...] = (0,)) -> str:
    """``qemu-img args`` confined; its output, or ImageUnacceptable with its error."""
    command = (*namespace_command(), '--', 'env', 'LC_ALL=C', 'qemu-img', *args)
    try:
        out, _err = processutils.execute(*command, prlimit=limits,
                                         check_exit_code=list(ok_codes))
    except processutils.ProcessExecutionError as error:
        raise ImageUnacceptable('qemu-img %s refused the image: %s'
                                % (args[0], (error.stderr or error).strip()[:500])) from None
    return out


def info(path: str, fmt: str, limits: processutils.ProcessLimits = INFO_LIMITS) -> dict:
    """``qemu-img info`` of ``path`` read as ``fmt``."""
    _guard(path, fmt)
    return json.loads(run('info', '--output=json', image_name(path, fmt), limits=limits))


def check(path: str, fmt: str, limits: processutils.ProcessLimits = INFO_LIMITS) -> None:
    """``qemu-img check``: the image's metadata is consistent (tables inside the file)."""
    _guard(path, fmt)
    run('check', '--output=json', image_name(path, fmt), limits=limits,
        ok_codes=(0, LEAKS_ONLY))


def convert(path: str, fmt: str, dest: str, out_format: str, options: str,
            cpu_time_s: int) -> None:
    """``qemu-img convert`` of ``path`` (``fmt``) into ``dest``; ``cpu_time_s`` bounds it."""
    _guard(path, fmt)
    limits = processutils.ProcessLimits(cpu_time=cpu_time_s,
                                        address_space=CONVERT_ADDRESS_SPACE)
    run('convert', '-O', out_format, '-o', options, image_name(path, fmt), dest,
        limits=limits)
