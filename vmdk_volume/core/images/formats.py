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

"""What an image is, decided from its bytes: detection, validation and virtual size.

Glance metadata says what an image claims to be; the bytes decide. Any VMDK, streamed or in
a file, first passes our own reading of its sparse header and descriptor (``vmdk``): one that
names a parent, a delta or any extent but itself is refused before anything else opens it.
A streamOptimized VMDK is recognised from its head so it can be streamed without a temporary
file, and walked as it passes (``grains``): a stream cut short or whose tables point where no
grain arrived is refused at its end. Anything else is inspected as a file: our VMDK checks
(grain tables inside the file), oslo.utils' format inspector (the safety checks Cinder uses)
and ``qemu-img info`` and ``check``, confined (``qemu``).
"""

import dataclasses
import enum

from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils.imageutils import format_inspector

from vmdk_volume.core.images import grains, qemu, transfer, vmdk
from vmdk_volume.core.images.errors import ImageUnacceptable
from vmdk_volume.units import GiB
from vmdk_volume.vsphere.disks import AdapterType

LOG = logging.getLogger(__name__)
HEAD_BYTES = 2 * 1024 * 1024    # enough for a sparse header and its (at most 1 MiB) descriptor
DEFAULT_VMDK_TYPES = ('streamOptimized', 'monolithicSparse')
RAW_LIKE = ('raw', 'gpt')       # qemu-img sees a partitioned raw disk as raw


class DiskFormat(enum.StrEnum):
    """Glance disk formats this driver imports."""

    VMDK = 'vmdk'
    QCOW2 = 'qcow2'
    RAW = 'raw'


class VmdkDiskType(enum.StrEnum):
    """The ``vmware_disktype`` image property (the in-tree driver's values)."""

    STREAM_OPTIMIZED = 'streamOptimized'
    SPARSE = 'sparse'
    PREALLOCATED = 'preallocated'
    THIN = 'thin'


CONTAINERS = ('bare', 'ova')


@dataclasses.dataclass(frozen=True)
class ImageMeta:
    """The Glance metadata the import reads, checked."""

    image_id: str
    disk_format: DiskFormat
    container: str
    size: int                         # bytes of the image data (0 if Glance does not say)
    checksum: str
    disk_type: VmdkDiskType | None
    adapter_type: AdapterType | None
    min_disk_gb: int = 0

    @classmethod
    def from_glance(cls, meta: dict) -> 'ImageMeta':
        """Check a Glance ``show`` result; ImageUnacceptable before anything is created."""
        image_id = meta.get('id', '?')
        props = meta.get('properties') or {}
        disk_format = _choice(DiskFormat, meta.get('disk_format'), 'disk_format')
        container = meta.get('container_format') or 'bare'
        if container not in CONTAINERS:
            raise ImageUnacceptable('container format %r is not supported (only %s)'
                                    % (container, ', '.join(CONTAINERS)))
        if container == 'ova' and disk_format is not DiskFormat.VMDK:
            raise ImageUnacceptable('an ova container must hold a vmdk disk, not %s'
                                    % disk_format)
        if meta.get('status', 'active') != 'active':
            raise ImageUnacceptable('the image is %s, not active: only an image whose upload '
                                    'finished can become a volume' % meta.get('status'))
        disk_type = props.get('vmware_disktype')
        adapter = props.get('vmware_adaptertype')
        return cls(image_id=image_id, disk_format=disk_format, container=container,
                   size=int(meta.get('size') or 0), checksum=meta.get('checksum') or '',
                   disk_type=_choice(VmdkDiskType, disk_type, 'vmware_disktype')
                   if disk_type else None,
                   adapter_type=_choice(AdapterType, adapter, 'vmware_adaptertype')
                   if adapter else None, min_disk_gb=int(meta.get('min_disk') or 0))


def _choice(kind: type[enum.StrEnum], value, name: str):
    try:
        return kind(value)
    except ValueError:
        raise ImageUnacceptable('%s %r is not supported (supported: %s)'
                                % (name, value, ', '.join(k.value for k in kind))) from None


@dataclasses.dataclass(frozen=True)
class Probe:
    """What the bytes are."""

    format: str                 # qemu-img's name: raw, qcow2, vmdk
    virtual_size: int
    subformat: str = ''         # VMDK createType


def check_head(head: bytes) -> tuple[vmdk.Header, vmdk.Descriptor] | None:
    """The sparse header and descriptor of the VMDK ``head`` starts, both checked (see
    ``vmdk``), or None if ``head`` is no VMDK; a text descriptor (its extents are other
    files) is refused."""
    if head.startswith(vmdk.MAGIC):
        return vmdk.check_head(head)
    if vmdk.is_vmdk_text(head):
        raise ImageUnacceptable('the image is a VMDK descriptor whose extents are separate '
                                'files, which is not allowed (upload a streamOptimized or '
                                'monolithicSparse VMDK, or the flat extent itself)')
    return None


def stream_optimized_head(head: bytes) -> grains.StreamCheck | None:
    """A check of the streamOptimized VMDK ``head`` starts (fed ``head``), or None if it
    starts none; a VMDK naming anything but itself is refused.

    Feed it the rest of the stream and call ``check_stream_end`` when done."""
    found = check_head(head)
    if found is None or not found[0].stream:
        return None
    stream = grains.StreamCheck(found[0])
    stream.feed(head)
    return stream


def sparse_disk_head(head: bytes, file_name: str, size: int | None = None) -> Probe | None:
    """What ``head`` (the first ``HEAD_BYTES`` of the file ``file_name``, ``size`` bytes
    long if known) shows if it starts a monolithicSparse VMDK whose one extent names the
    file itself (not a neighbour), else None: a disk vSphere's CopyVirtualDisk may read as
    it is. A VMDK naming a parent, a delta or other extents, or whose grain tables in the
    head point past ``size``, is refused (ImageUnacceptable), not left to another path."""
    found = check_head(head)
    if found is None or found[0].stream:
        return None
    header, descriptor = found
    if descriptor.extent_name.lower() != file_name.lower():
        return None
    if size is not None:
        grains.check_sparse_head(head, header, size)
    return Probe(format='vmdk', virtual_size=header.capacity * vmdk.SECTOR,
                 subformat='monolithicSparse')


def check_stream_end(stream: grains.StreamCheck) -> None:
    """The checks that needed the whole stream (its end, its grains)."""
    stream.finish()


@dataclasses.dataclass(frozen=True)
class ImageRules:
    """What Cinder's configuration allows of images: the VMDK subformats
    (``vmdk_allowed_types``) and qemu-img's limits when it inspects one
    (``image_introspection_cpu_limit``, ``image_introspection_address_space_limit``)."""

    vmdk_types: tuple[str, ...] = DEFAULT_VMDK_TYPES
    introspection: processutils.ProcessLimits = qemu.INFO_LIMITS


CINDER_DEFAULTS = ImageRules()


def probe_file(path: str, rules: ImageRules = CINDER_DEFAULTS) -> Probe:
    """Detect and check the image in ``path`` (see the module docstring)."""
    _check_own_vmdk(path)
    inspector = None
    try:
        inspector = format_inspector.detect_file_format(path)
        if inspector is None:
            raise ImageUnacceptable('the image format could not be recognised')
        inspector.safety_check()
    except (format_inspector.ImageFormatError, format_inspector.SafetyCheckFailed) as error:
        raise ImageUnacceptable('the %s image is corrupt or unsafe (%s): upload a valid '
                                'image' % (inspector or 'image', error)) from None
    detected = 'raw' if str(inspector) in RAW_LIKE else str(inspector)
    if detected not in ('raw', 'qcow2', 'vmdk'):
        raise ImageUnacceptable('the image data is %s, which is not supported (raw, qcow2 '
                                'and vmdk are)' % detected)
    info = qemu.info(path, detected, rules.introspection)
    specific = (info.get('format-specific') or {}).get('data') or {}
    if detected == 'qcow2' and (specific.get('data-file') or info.get('backing-filename')):
        raise ImageUnacceptable('a qcow2 image may not have a data file or backing file')
    subformat = specific.get('create-type', '') if detected == 'vmdk' else ''
    if detected == 'vmdk':
        check_subformat(subformat, rules.vmdk_types)
    if detected != 'raw':
        qemu.check(path, detected, rules.introspection)
    return Probe(format=detected, virtual_size=int(info['virtual-size']), subformat=subformat)


def _check_own_vmdk(path: str) -> None:
    """Our own checks of a VMDK file: it names nothing but itself, its grains are inside
    it (a stream: every grain its tables name arrived)."""
    with open(path, 'rb') as image:
        found = check_head(image.read(HEAD_BYTES))
        if found is None:
            return
        header = found[0]
        if not header.stream:
            grains.check_sparse_file(path, header)
            return
        image.seek(0)
        stream = grains.StreamCheck(header)
        while chunk := image.read(transfer.CHUNK):
            stream.feed(chunk)
    stream.finish()


def check_claim(meta: ImageMeta, probe: Probe) -> None:
    """The bytes must be what Glance says (in-tree's flat ``preallocated``/``thin`` VMDK
    images are raw extents)."""
    if meta.disk_format is DiskFormat.VMDK:
        flat = meta.disk_type in (None, VmdkDiskType.PREALLOCATED, VmdkDiskType.THIN)
        if probe.format == 'raw' and flat:
            return
        expected = {VmdkDiskType.STREAM_OPTIMIZED: 'streamOptimized',
                    VmdkDiskType.SPARSE: 'monolithicSparse'}.get(meta.disk_type)
        if probe.format == 'vmdk' and expected in (None, probe.subformat):
            return
        claim = 'vmdk (%s)' % (meta.disk_type or 'preallocated')
    elif probe.format == meta.disk_format:
        return
    else:
        claim = meta.disk_format
    raise ImageUnacceptable('the image claims to be %s but its data is %s%s' % (
        claim, probe.format, ' (%s)' % probe.subformat if probe.subformat else ''))


def check_min_disk(meta: ImageMeta, volume_size: int) -> None:
    """Glance's ``min_disk`` (GiB) must fit the volume, as Cinder's API checks."""
    if meta.min_disk_gb * GiB > volume_size:
        raise ImageUnacceptable('the image needs a volume of at least %d GiB (its min_disk), '
                                'not %d GiB' % (meta.min_disk_gb, volume_size // GiB))


def check_subformat(subformat: str, vmdk_types) -> None:
    """The VMDK createType must be one of Cinder's ``vmdk_allowed_types``."""
    if subformat not in vmdk_types:
        raise ImageUnacceptable('VMDK subformat %r is not allowed (allowed: %s)'
                                % (subformat, ', '.join(vmdk_types) or 'none'))


def check_fits(probe_size: int, volume_size: int) -> None:
    if probe_size > volume_size:
        raise ImageUnacceptable(
            'the image\'s virtual size is %.2f GiB and does not fit in a %d GiB volume: '
            'create a volume of at least %d GiB' % (
                probe_size / GiB, volume_size // GiB, -(-probe_size // GiB)))
