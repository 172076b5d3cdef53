"""qemu-img run on untrusted images so that it reads nothing but the image's own bytes.

Every run opens the image through a ``json:`` filename: the format driver is named (no
probing), its file is a local file (``file.driver=file``: no protocol, so no ``nbd://`` or
``http://`` top file) and ``"backing": null`` keeps qemu from opening any parent a header
names (qcow2 backing file, VMDK ``parentFileNameHint``, ``/proc/self/fd/N``). It runs in a
private network namespace (``unshare --net``; with user namespaces when not root), where
no connection can leave the host, under ``prlimit`` limits (Cinder's for introspection).
When the namespace cannot be made, qemu-img is not run at all: ``Unconfined`` names the fix;
images that need no qemu-img (streamOptimized VMDKs streamed as they are) still import.
"""

import functools
import json
import logging
import os

from oslo_concurrency import processutils

from vmdk_volume.images.errors import ImageUnacceptable

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3
# Cinder's defaults for image_introspection_cpu_limit and ..._address_space_limit.
INFO_LIMITS = processutils.ProcessLimits(cpu_time=60, address_space=1 * GiB)
CONVERT_ADDRESS_SPACE = 2 * GiB
LEAKS_ONLY = 3           # qemu-img check: leaked clusters, the data is intact


class Unconfined(RuntimeError):
    """qemu-img cannot be confined on this host, so it is not run."""


def image_name(path: str, fmt: str) -> str:
    """``path`` as a ``json:`` filename of format ``fmt``, without backing."""
    spec = {'driver': fmt, 'file': {'driver': 'file', 'filename': os.path.abspath(path)},
            'backing': None}
    return 'json:' + json.dumps(spec, sort_keys=True)


@functools.cache
def namespace_command() -> tuple[str, ...]:
    """The command prefix that runs a program without network, or Unconfined."""
    prefix = ('unshare', '--net') if os.geteuid() == 0 else \
        ('unshare', '--user', '--map-root-user', '--net')
    try:
        processutils.execute(*prefix, '--', 'true')
    except (processutils.ProcessExecutionError, OSError) as error:
        namespace_command.cache_clear()
        raise Unconfined(
            'qemu-img cannot be run in a private network namespace here (%s failed: %s): '
            'images that need qemu-img are refused until cinder-volume may create one '
            '(run it as root, or allow unprivileged user namespaces, e.g. '
            'sysctl kernel.unprivileged_userns_clone=1)'
            % (' '.join(prefix), str(getattr(error, 'stderr', '') or error).strip())) from None
    return prefix


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


def info(path: str, fmt: str) -> dict:
    """``qemu-img info`` of ``path`` read as ``fmt``."""
    return json.loads(run('info', '--output=json', image_name(path, fmt)))


def check(path: str, fmt: str) -> None:
    """``qemu-img check``: the image's metadata is consistent (tables inside the file)."""
    run('check', '--output=json', image_name(path, fmt), ok_codes=(0, LEAKS_ONLY))


def convert(path: str, fmt: str, dest: str, out_format: str, options: str,
            cpu_time_s: int) -> None:
    """``qemu-img convert`` of ``path`` (``fmt``) into ``dest``; ``cpu_time_s`` bounds it."""
    limits = processutils.ProcessLimits(cpu_time=cpu_time_s,
                                        address_space=CONVERT_ADDRESS_SPACE)
    run('convert', '-O', out_format, '-o', options, image_name(path, fmt), dest,
        limits=limits)
