"""The image cache on the datastores: one template per Glance image, cloned into volumes.

The first volume made from an image imports it into a template in
``<datacenter vmFolder>/OpenStack/<vmware_image_cache_folder>``, named ``image-<image id>``
and carrying the image id and checksum in its extraConfig (never the volume-id key, so a
template is never taken for a volume). Later volumes from the same image are one CloneVM task
that also grows the disk to the volume's size. A changed checksum (the image was replaced)
drops the template. The cache keeps at most ``vmware_image_cache_max_count`` templates and
``vmware_image_cache_max_size_gb`` of image data; beyond that the least recently used go.

The index is read from vCenter once per process and kept in memory; use times are
in-memory too, so after a restart the least recently *created* templates are evicted first.
A fill runs under the image's lock (``Images``); whoever held it next looks again, reading
the index again (one call) if its copy lacks the image, so a template another process made
meanwhile is found rather than imported twice.
"""

import dataclasses
import logging
import threading
import time
import uuid

from vmdk_volume import folders
from vmdk_volume.backings import Backing, BackingRequest
from vmdk_volume.vsphere import errors, inventory, properties, specs

LOG = logging.getLogger(__name__)
IMAGE_ID_KEY = specs.IMAGE_ID_KEY
CHECKSUM_KEY = specs.CHECKSUM_KEY
GiB = 1024 ** 3


@dataclasses.dataclass
class Entry:
    """One cached template."""

    image_id: str
    checksum: str
    ref: str
    size_bytes: int
    used: float


class ImageCache:
    """Templates of images on one vCenter (see the module docstring)."""

    def __init__(self, backend):
        self._backend = backend
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] | None = None
        self._read_at = 0.0     # time.monotonic() of the last read of the index

    @property
    def limits(self):
        return self._backend.config.image_cache

    def folder_path(self) -> tuple[str, ...]:
        return (folders.ROOT_FOLDER, folders.inventory_name(self.limits.folder))

    def template_request(self, image_id: str, checksum: str,
                         request: BackingRequest) -> BackingRequest:
        """What to import an image into to cache it (a volume's profile, its own identity)."""
        return BackingRequest(volume_id=str(uuid.uuid4()), name='image-%s' % image_id,
                              size_bytes=request.size_bytes, profile=request.profile,
                              profile_id=request.profile_id,
                              extra_config=specs.image_marks(image_id, checksum))

    def lookup(self, image_id: str, checksum: str, reread: bool = False) -> Backing | None:
        """The template of this image version, or None (a stale version is dropped); with
        ``reread``, an index without the image is read again from vCenter first."""
        entry = self._load().get(image_id)
        if entry is None and reread:
            entry = self._load(force=True).get(image_id)
        if entry is None:
            return None
        if entry.checksum != checksum:
            LOG.info('Image %s changed (checksum %s, cached %s): dropping its template %s',
                     image_id, checksum, entry.checksum, entry.ref)
            self._drop(entry)
            return None
        try:
            template = self._backend.describe(entry.ref, _identity(entry))
        except errors.NotFound:     # gone, or its moref now another VM's (vCenter restored)
            self._forget(entry)
            return None
        entry.used = time.time()
        return template

    def add(self, image_id: str, checksum: str, ref: str, size_bytes: int) -> None:
        """Keep a freshly imported template, marked as such, and evict beyond the limits."""
        client = self._backend.client
        client.call('MarkAsTemplate', client.ref('VirtualMachine', ref))
        self._load()
        with self._lock:
            self._entries[image_id] = Entry(image_id, checksum, ref, size_bytes, time.time())
        self._evict(keep=image_id)

    def _evict(self, keep: str) -> None:
        with self._lock:
            ranked = sorted(self._entries.values(), key=lambda e: e.used, reverse=True)
        count = size = 0
        for entry in ranked:
            count += 1
            size += entry.size_bytes
            over_size = self.limits.max_size_gb and size > self.limits.max_size_gb * GiB
            if entry.image_id != keep and (count > self.limits.max_count or over_size):
                LOG.info('Evicting the cached template of image %s (least recently used)',
                         entry.image_id)
                self._drop(entry)

    def _drop(self, entry: Entry) -> None:
        self._forget(entry)
        self._backend.backings.delete(entry.ref, _identity(entry))

    def _forget(self, entry: Entry) -> None:
        with self._lock:
            if self._entries.get(entry.image_id) is entry:
                del self._entries[entry.image_id]

    def _load(self, force: bool = False) -> dict[str, Entry]:
        """A copy of the index, read once (again if ``force``): every VM carrying our
        image key."""
        with self._lock:
            if self._entries is not None and not force:
                return dict(self._entries)
        read_at = time.monotonic()
        found = {}
        items = inventory.virtual_machines(self._backend.client, [
            'config.extraConfig', 'config.hardware.device', 'config.createDate'])
        for item in items:
            entry = _entry(item)
            if entry is not None:
                found[entry.image_id] = entry
        with self._lock:
            if self._entries is None or read_at > self._read_at:
                known = self._entries or {}
                for entry in found.values():     # keep this process's use times
                    if entry.ref == getattr(known.get(entry.image_id), 'ref', None):
                        entry.used = known[entry.image_id].used
                self._entries, self._read_at = found, read_at
            return dict(self._entries)


def _entry(item) -> Entry | None:
    values = properties.options(item.get('config.extraConfig'))
    if IMAGE_ID_KEY not in values:
        return None
    devices = getattr(item.get('config.hardware.device'), 'VirtualDevice', None) or []
    size = sum(int(d.capacityInKB) * 1024 for d in devices
               if type(d).__name__ == 'VirtualDisk')
    created = item.get('config.createDate')
    used = created.timestamp() if hasattr(created, 'timestamp') else 0.0
    return Entry(values[IMAGE_ID_KEY], values.get(CHECKSUM_KEY, ''), item.value, size, used)


def _identity(entry: Entry) -> dict[str, str]:
    """The marks the template of ``entry`` carries."""
    return {IMAGE_ID_KEY: entry.image_id, CHECKSUM_KEY: entry.checksum}
