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

"""Images: Glance images into backings and back (formats, conversion, transfer, cache)."""

import contextlib
import uuid
from collections.abc import Callable

from oslo_log import log as logging

from vmdk_volume.core.backings import Backing, BackingRequest, Backings
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import cache, exporter, formats, importer, located, transfer
from vmdk_volume.core.locks import Locks
from vmdk_volume.core.provisioning import Placer, Provisioner
from vmdk_volume.vsphere import errors, leases, properties, specs
from vmdk_volume.vsphere.vm import VirtualMachine

LOG = logging.getLogger(__name__)
FILL_ATTEMPTS = 2    # a template destroyed behind the cache's back before its clone


class Images:
    """Image operations of one backend: what the driver's image methods call. ``config``
    gives the backend's options as they are now (read at each operation); the image classes
    get what they use of the rest."""

    def __init__(self, client, backings: Backings, placer: Placer, provisioner: Provisioner,
                 locks: Locks, config: Callable[[], BackendConfig],
                 rules: formats.ImageRules = formats.CINDER_DEFAULTS):
        self._client = client
        self._backings = backings
        self._placer = placer
        self._provisioner = provisioner
        self._options = config
        self._rules = rules
        self.cache = cache.ImageCache(client, backings, locks, lambda: self._config.image_cache)

    @property
    def _config(self) -> BackendConfig:
        return self._options()

    def peer(self) -> transfer.Peer:
        """How to reach this vCenter's NFC URLs (with the current session's cookie)."""
        endpoint = self._config.endpoint
        return transfer.Peer(ca_file=endpoint.ca_file, insecure=endpoint.insecure,
                             cookie=leases.session_cookie(self._client))

    def _importer(self) -> importer.Importer:
        return importer.Importer(self._provisioner, self._backings, self._config, self.peer(),
                                 self._rules)

    def import_image(self, image: importer.ImageData, request: BackingRequest,
                     project_id: str, existing: str | None = None) -> str:
        """The backing of ``request`` holding ``image``: a clone of the image's cached
        template (imported first if missing), a new import when the cache is off, or
        ``existing`` (an empty backing made at create time) with its disk replaced."""
        if existing is not None:
            return self._import_into(image, request, project_id, existing)
        meta = image.meta
        if not (self._config.image_cache.enabled and meta.checksum):
            return self._importer().import_image(
                image, request, self._provisioner.volume_folder_path(project_id)).ref
        ref = self.from_cache(meta.image_id, meta.checksum, request, project_id)
        for _ in range(FILL_ATTEMPTS):
            if ref is not None:
                return ref
            ref = self._fill_and_clone(image, request, project_id)
        raise errors.NotFound('ManagedObjectNotFound',
                              'the cached template of image %s vanished while it was cloned, '
                              '%d times' % (meta.image_id, FILL_ATTEMPTS))

    def from_cache(self, image_id: str, checksum: str, request: BackingRequest,
                   project_id: str) -> str | None:
        """A clone of the image's cached template, or None if it is not cached (or not
        finished: a fill in progress is never cloned). Then the cache is evicted to its
        limits: an eviction skipped while this clone ran is done by the last clone."""
        if not (self._config.image_cache.enabled and checksum):
            return None
        with self.cache.reading(image_id):
            template = self.cache.lookup(image_id, checksum)
            ref = template and self._clone_cached(template, request, project_id, image_id)
        if ref:
            self.cache.evict(keep=image_id)
        return ref

    def _fill_and_clone(self, image: importer.ImageData, request: BackingRequest,
                        project_id: str) -> str | None:
        """A clone of the image's template, imported first under the image's lock unless
        whoever held the lock before (a thread, or another process: the index is read
        again) made it; then the cache is evicted to its limits. None if the template
        vanished before it was cloned."""
        meta = image.meta
        with contextlib.ExitStack() as reading:
            with self.cache.lock(meta.image_id):
                template = self.cache.lookup(meta.image_id, meta.checksum, reread=True)
                if template is None:
                    self.cache.discard_unfinished(meta.image_id)
                    template = self._fill(image, request)
                reading.enter_context(self.cache.reading(meta.image_id))
            ref = self._clone_cached(template, request, project_id, meta.image_id)
        self.cache.evict(keep=meta.image_id)
        return ref

    def _clone_cached(self, template: Backing, request: BackingRequest, project_id: str,
                      image_id: str) -> str | None:
        """A clone of the cached template, or None if it vanished (destroyed by an older
        release's eviction or an operator): its entry is forgotten."""
        try:
            return self.clone_template(template, request, project_id, image_id)
        except errors.NotFound:
            try:
                self._backings.describe(template.ref)
            except errors.NotFound:
                LOG.info('The cached template %s of image %s vanished while it was cloned',
                         template.ref, image_id)
                self.cache.forget(image_id, template.ref)
                return None
            raise

    def from_location(self, meta: formats.ImageMeta, urls: list[str],
                      request: BackingRequest, project_id: str) -> str | None:
        """A datastore-side copy of the image if one of ``urls`` is a sparse VMDK file on
        this vCenter (see ``located``), else None."""
        images = located.LocatedImages(self._placer, self._provisioner, self._backings,
                                       self._config.endpoint, self.peer())
        found = images.find(urls)
        if found is None:
            return None
        probe = images.probe(found[0], meta)
        if probe is None:
            LOG.info('Image %s at %s is not a sparse VMDK vCenter can copy as it is: '
                     'importing it instead', meta.image_id, found[0].datastore_path)
            return None
        formats.check_subformat(probe.subformat, self._rules.vmdk_types)
        return images.copy(*found, probe, request, project_id)

    def clone_template(self, template: Backing, request: BackingRequest, project_id: str,
                       image_id: str) -> str:
        formats.check_fits(template.size_bytes, request.size_bytes)
        LOG.info('Volume %s from the cached template %s of image %s', request.volume_id,
                 template.ref, image_id)
        return self._provisioner.clone(template, request, project_id, grow_in_clone=True).ref

    def _fill(self, image: importer.ImageData, request: BackingRequest) -> Backing:
        meta = image.meta
        wanted = self.cache.template_request(meta.image_id, meta.checksum, request)
        template = self._importer().import_image(image, wanted, self.cache.folder_path(),
                                                 grow=False)
        self.cache.add(meta.image_id, meta.checksum, template.ref, template.size_bytes)
        return template

    def _import_into(self, image: importer.ImageData, request: BackingRequest,
                     project_id: str, existing: str) -> str:
        temporary = BackingRequest(volume_id=str(uuid.uuid4()),
                                   name='%s-image' % request.name,
                                   size_bytes=request.size_bytes, profile=request.profile,
                                   extra_config=specs.import_marks(request.volume_id))
        folder = self._provisioner.volume_folder_path(project_id)
        try:
            source = self._importer().import_image(image, temporary, folder)
        except errors.AlreadyExists as duplicate:
            self._destroy_leftover_import(duplicate, request.volume_id)
            source = self._importer().import_image(image, temporary, folder)
        try:
            self._backings.copy_disk(source, self._backings.describe(existing))
        finally:
            self._backings.delete(source.ref)
        return existing

    def _destroy_leftover_import(self, duplicate: errors.AlreadyExists, volume_id: str) -> None:
        """Destroy the VM holding the name of the volume's temporary import VM if it is one
        (marked with the volume's id): an import a crash interrupted; else re-raise."""
        holder = duplicate.holder
        marks = properties.options(VirtualMachine(self._client, holder).read(
            ['config.extraConfig']).get('config.extraConfig')) if holder else {}
        if marks.get(specs.IMPORT_KEY) != volume_id:
            raise duplicate
        LOG.warning('Destroying %s, an import into the backing of volume %s that was '
                    'interrupted', holder, volume_id)
        self._backings.delete(holder)

    def export(self, ref: str | None, size_bytes: int, store: exporter.Store,
               what: str) -> None:
        exporter.Exporter(self._client, self._config, self.peer()).export(
            ref, size_bytes, store, what)
