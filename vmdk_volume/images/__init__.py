"""Images: Glance images into backings and back (formats, conversion, transfer, cache)."""

import logging
import uuid

from vmdk_volume import locks as vlocks
from vmdk_volume.backings import Backing, BackingRequest
from vmdk_volume.images import cache, exporter, formats, importer, located, transfer
from vmdk_volume.vsphere import leases, specs

LOG = logging.getLogger(__name__)


class Images:
    """Image operations of one backend: what the driver's image methods call."""

    def __init__(self, backend, vmdk_types=formats.DEFAULT_VMDK_TYPES):
        self._backend = backend
        self._vmdk_types = tuple(vmdk_types)
        self.cache = cache.ImageCache(backend)

    def peer(self) -> transfer.Peer:
        """How to reach this vCenter's NFC URLs (with the current session's cookie)."""
        endpoint = self._backend.config.endpoint
        return transfer.Peer(ca_file=endpoint.ca_file, insecure=endpoint.insecure,
                             cookie=leases.session_cookie(self._backend.client))

    def _importer(self) -> importer.Importer:
        return importer.Importer(self._backend, self.peer(), self._vmdk_types)

    def import_image(self, image: importer.ImageData, request: BackingRequest,
                     project_id: str, existing: str | None = None) -> str:
        """The backing of ``request`` holding ``image``: a clone of the image's cached
        template (imported first if missing), a new import when the cache is off, or
        ``existing`` (an empty backing made at create time) with its disk replaced."""
        if existing is not None:
            return self._import_into(image, request, project_id, existing)
        meta = image.meta
        if not (self._backend.config.image_cache.enabled and meta.checksum):
            return self._importer().import_image(
                image, request, self._backend.volume_folder_path(project_id)).ref
        template = self.cache.lookup(meta.image_id, meta.checksum)
        if template is None:
            template = self._cache_template(image, request)
        return self.clone_template(template, request, project_id, meta.image_id)

    def from_cache(self, image_id: str, checksum: str, request: BackingRequest,
                   project_id: str) -> str | None:
        """A clone of the image's cached template, or None if it is not cached."""
        if not (self._backend.config.image_cache.enabled and checksum):
            return None
        template = self.cache.lookup(image_id, checksum)
        if template is None:
            return None
        return self.clone_template(template, request, project_id, image_id)

    def from_location(self, meta: formats.ImageMeta, urls: list[str],
                      request: BackingRequest, project_id: str) -> str | None:
        """A datastore-side copy of the image if one of ``urls`` is a sparse VMDK file on
        this vCenter (see ``located``), else None."""
        images = located.LocatedImages(self._backend, self.peer())
        found = images.find(urls)
        if found is None:
            return None
        probe = images.probe(found[0], meta)
        if probe is None:
            LOG.info('Image %s at %s is not a sparse VMDK vCenter can copy as it is: '
                     'importing it instead', meta.image_id, found[0].datastore_path)
            return None
        formats.check_subformat(probe.subformat, self._vmdk_types)
        return images.copy(*found, probe, request, project_id)

    def clone_template(self, template: Backing, request: BackingRequest, project_id: str,
                       image_id: str) -> str:
        formats.check_fits(template.size_bytes, request.size_bytes)
        LOG.info('Volume %s from the cached template %s of image %s', request.volume_id,
                 template.ref, image_id)
        return self._backend.clone_backing(template, request, project_id,
                                           grow_in_clone=True)

    def _cache_template(self, image: importer.ImageData, request: BackingRequest) -> Backing:
        """Import the image into its cached template: once, under the image's lock; who
        waited for another fill (a thread, or another process: the index is read again)
        gets its template."""
        meta = image.meta
        vcenter = self._backend.client.content.about.instanceUuid
        with self._backend.locks(vlocks.name('image', vcenter, meta.image_id)):
            template = self.cache.lookup(meta.image_id, meta.checksum, reread=True)
            return template or self._fill(image, request)

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
        source = self._importer().import_image(
            image, temporary, self._backend.volume_folder_path(project_id))
        backings = self._backend.backings
        try:
            backings.copy_disk(source, self._backend.describe(existing))
        finally:
            backings.delete(source.ref)
        return existing

    def export(self, ref: str | None, size_bytes: int, store: exporter.Store,
               what: str) -> None:
        exporter.Exporter(self._backend, self.peer()).export(ref, size_bytes, store, what)
