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
An entry is a VM carrying the image key that is a template (``config.template``): a fill marks
its VM as one only once the import completed and was verified, so a VM with the key that is
not a template is a fill in progress or one a crash interrupted, never cloned. A fill runs
under the image's lock (``lock``); whoever holds it next and finds no usable template in its
copy of the index (none, gone, or of another checksum) reads the index again (one call), so a
template another process made meanwhile is found rather than imported twice, and destroys what
an interrupted fill left as that read found it (``discard_unfinished``: under the lock no fill
of the image runs anywhere) before importing again.

A clone holds one of the image's reader slots (``READER_SLOTS`` locks of the same
coordination as the image's lock, so every process of the backend sees them) from before it
looks the template up until its clone task ended. Eviction, under the image's lock, takes
every slot without waiting: if one is held, the template is being cloned here or in another
process and stays, over the limits, until a later fill evicts again; a drop (changed image)
waits for the slots. A clone that finds its template gone anyway (destroyed by an older
release or an operator) imports the image again (``Images``).
"""

import collections
import contextlib
import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from oslo_log import log as logging

from vmdk_volume.core import folders
from vmdk_volume.core import locks as vlocks
from vmdk_volume.core.backings import Backing, BackingRequest, Backings
from vmdk_volume.core.config import ImageCacheConfig
from vmdk_volume.units import GiB
from vmdk_volume.vsphere import devices, errors, inventory, properties, specs
from vmdk_volume.vsphere.vm import VirtualMachine

LOG = logging.getLogger(__name__)
IMAGE_ID_KEY = specs.IMAGE_ID_KEY
CHECKSUM_KEY = specs.CHECKSUM_KEY
READER_SLOTS = 8    # clones of one image at once over the backend's processes; more wait


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

    def __init__(self, client, backings: Backings, locks: vlocks.Locks,
                 limits: Callable[[], ImageCacheConfig]):
        self._client = client
        self._backings = backings
        self._locks = locks
        self._limits = limits       # the image cache options as they are now
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] | None = None
        self._unfinished: dict[str, list[str]] = {}    # image id -> VMs of unfinished fills
        self._read_at = 0.0     # time.monotonic() of the last read of the index

    def folder_path(self) -> tuple[str, ...]:
        return (folders.ROOT_FOLDER, folders.inventory_name(self._limits().folder))

    def template_request(self, image_id: str, checksum: str,
                         request: BackingRequest) -> BackingRequest:
        """What to import an image into to cache it (a volume's profile, its own identity)."""
        return BackingRequest(volume_id=str(uuid.uuid4()), name='image-%s' % image_id,
                              size_bytes=request.size_bytes, profile=request.profile,
                              profile_id=request.profile_id,
                              extra_config=specs.image_marks(image_id, checksum))

    def lock(self, image_id: str):
        """The image's lock (every process of the backend): fills and drops run under it."""
        return self._locks(self._lock_name(image_id))

    def _lock_name(self, image_id: str, *parts: str) -> str:
        vcenter = self._client.content.about.instanceUuid
        return vlocks.name('image', vcenter, image_id, *parts)

    def _slots(self, image_id: str) -> list:
        return [self._locks(self._lock_name(image_id, 'reader%d' % n))
                for n in range(READER_SLOTS)]

    @contextlib.contextmanager
    def reading(self, image_id: str) -> Iterator[None]:
        """Hold one of the image's reader slots while a clone of its template looks it up
        and runs: eviction spares the template (see the module docstring)."""
        slots = self._slots(image_id)
        held = next((slot for slot in slots if slot.acquire(blocking=False)), None)
        if held is None:        # READER_SLOTS clones of the image run: wait for one
            held = slots[threading.get_ident() % READER_SLOTS]
            held.acquire()
        try:
            yield
        finally:
            held.release()

    def lookup(self, image_id: str, checksum: str, reread: bool = False) -> Backing | None:
        """The template of this image version, or None; with ``reread`` (under the image's
        lock), if this process's index has no usable one, the index is read again from
        vCenter and looked in, a stale version being dropped (once no clone reads it)."""
        entry = self._load().get(image_id)
        template = entry and self._usable(entry, checksum, reread)
        if template or not reread:
            return template or None
        entry = self._reread(image_id)
        return entry and self._usable(entry, checksum, reread) or None

    def _usable(self, entry: Entry, checksum: str, drop_stale: bool) -> Backing | None:
        """The entry's template if it is of ``checksum`` and still there."""
        if entry.checksum != checksum:
            if drop_stale:
                LOG.info('Image %s changed (checksum %s, cached %s): dropping its template '
                         '%s', entry.image_id, checksum, entry.checksum, entry.ref)
                self._drop(entry, wait=True)
            return None
        try:
            template = self._backings.describe(entry.ref, _identity(entry))
        except errors.NotFound:     # gone, or its moref now another VM's (vCenter restored)
            self._forget(entry)
            return None
        entry.used = time.time()
        return template

    def _reread(self, image_id: str) -> Entry | None:
        """The image's entry as vCenter has it now (one call); its unfinished fills kept
        for ``discard_unfinished``."""
        found, unfinished = self._read()
        entry = found.get(image_id)
        with self._lock:
            self._unfinished[image_id] = unfinished.get(image_id, [])
            if entry is not None:   # kept even if the read did not replace the index
                entry = self._entries.setdefault(image_id, entry)
        return entry

    def discard_unfinished(self, image_id: str) -> None:
        """Destroy the VMs of the image's fills that never finished (under its lock: no
        fill of it runs anywhere), as the read of ``lookup`` under that lock found them."""
        with self._lock:
            refs = self._unfinished.pop(image_id, [])
        for ref in refs:
            LOG.warning('Destroying %s, an unfinished import of image %s into the cache '
                        '(interrupted)', ref, image_id)
            self._backings.delete(ref)

    def add(self, image_id: str, checksum: str, ref: str, size_bytes: int) -> None:
        """Keep a freshly imported and verified template: mark it as one, the sign that
        its fill completed."""
        VirtualMachine(self._client, ref).mark_as_template()
        self._load()
        with self._lock:
            self._entries[image_id] = Entry(image_id, checksum, ref, size_bytes, time.time())
            self._read_at = time.monotonic()    # a read of the index begun before does
            # not know the template: it must not replace the index that has it

    def forget(self, image_id: str, ref: str) -> None:
        """Drop the image's entry from the index if its template is ``ref`` (which vanished;
        a template made since stays)."""
        with self._lock:
            if getattr((self._entries or {}).get(image_id), 'ref', None) == ref:
                del self._entries[image_id]

    def evict(self, keep: str) -> None:
        """Destroy the least recently used templates beyond the limits, but ``keep``'s and
        those being cloned or whose image's lock is held (see the module docstring); the
        index is read first if this process has not read it yet."""
        ranked = sorted(self._load().values(),     # ``keep`` first, then the latest used
                        key=lambda e: (e.image_id == keep, e.used), reverse=True)
        count = size = 0
        limits = self._limits()
        for entry in ranked:
            count += 1
            size += entry.size_bytes
            over_size = limits.max_size_gb and size > limits.max_size_gb * GiB
            if entry.image_id != keep and (count > limits.max_count or over_size):
                self._evict(entry)

    def _evict(self, entry: Entry) -> None:
        lock = self.lock(entry.image_id)
        if not lock.acquire(blocking=False):
            LOG.info('Keeping the template of image %s over the cache limits for now: '
                     'its image is being filled or dropped', entry.image_id)
            return
        try:
            with self._lock:
                stale = self._entries.get(entry.image_id) is not entry
            if stale:
                return
            if self._drop(entry, wait=False):
                LOG.info('Evicted the cached template of image %s (least recently used)',
                         entry.image_id)
            else:
                LOG.info('Keeping the template of image %s over the cache limits for now: '
                         'it is being cloned', entry.image_id)
        finally:
            lock.release()

    def _drop(self, entry: Entry, wait: bool) -> bool:
        """Destroy the entry's template (under its image's lock) holding every reader slot
        of the image: waiting for the clones of it if ``wait``, else False if one runs."""
        slots, held = self._slots(entry.image_id), []
        try:
            for slot in slots:      # each tried, even after a busy one: its lock file made
                if slot.acquire(blocking=wait):
                    held.append(slot)
            if len(held) < len(slots):
                return False
            self._forget(entry)
            self._backings.delete(entry.ref, _identity(entry))
            return True
        finally:
            for slot in held:
                slot.release()

    def _forget(self, entry: Entry) -> None:
        with self._lock:
            if self._entries.get(entry.image_id) is entry:
                del self._entries[entry.image_id]

    def _load(self) -> dict[str, Entry]:
        """A copy of the index, read from vCenter the first time."""
        with self._lock:
            if self._entries is not None:
                return dict(self._entries)
        self._read()
        with self._lock:
            return dict(self._entries)

    def _read(self) -> tuple[dict[str, Entry], dict[str, list[str]]]:
        """Read the index (one call): every template carrying our image key, and the VMs
        carrying it that are no templates (unfinished fills) by image. It replaces the
        index unless a template was added since the read began (the read lacks it)."""
        read_at = time.monotonic()
        found, unfinished = {}, collections.defaultdict(list)
        items = inventory.virtual_machines(self._client, [
            'config.extraConfig', 'config.template', 'config.hardware.device',
            'config.createDate'])
        for item in items:
            entry = _entry(item)
            if entry is None:
                continue
            if item.get('config.template'):
                found[entry.image_id] = entry
            else:
                unfinished[entry.image_id].append(entry.ref)
        with self._lock:
            if self._entries is None or read_at > self._read_at:
                known = self._entries or {}
                for entry in found.values():     # keep this process's use times
                    if entry.ref == getattr(known.get(entry.image_id), 'ref', None):
                        entry.used = known[entry.image_id].used
                self._entries, self._read_at = dict(found), read_at
        return found, unfinished


def _entry(item) -> Entry | None:
    """The VM as an entry if it carries our image key (a template or not) and is no
    volume's: a volume cloned from a template by a release before the marks were cleared
    on clone still carries the image's marks beside its own."""
    values = properties.options(item.get('config.extraConfig'))
    if not values.get(IMAGE_ID_KEY) or values.get(specs.VOLUME_ID_KEY):
        return None
    size = sum(devices.capacity_bytes(disk) for disk in devices.disks(
        devices.device_list(item.get('config.hardware.device'))))
    created = item.get('config.createDate')
    used = created.timestamp() if hasattr(created, 'timestamp') else 0.0
    return Entry(values[IMAGE_ID_KEY], values.get(CHECKSUM_KEY, ''), item.value, size, used)


def _identity(entry: Entry) -> dict[str, str]:
    """The marks the template of ``entry`` carries."""
    return {IMAGE_ID_KEY: entry.image_id, CHECKSUM_KEY: entry.checksum}
