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

"""Images: Glance images into volumes (imported, or cloned from the datastore cache) and
volumes back into images (see ``vmdk_volume.core.images.service``)."""

import contextlib
import dataclasses
import uuid

from cinder import exception
from cinder.image import image_utils

from vmdk_volume.core.backings import BackingRequest
from vmdk_volume.core.images import exporter, formats, importer, located
from vmdk_volume.driver import errors, lookup
from vmdk_volume.i18n import _
from vmdk_volume.units import GiB


class Imaging:
    """The driver's image methods (a mixin of ``VMwareVcVmdkDriver``)."""

    @errors.translated
    @errors.created
    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        """Import the image (any subformat of VMDK, qcow2 or raw, bare or in an OVA) into
        the volume's backing through an NFC lease, grown to the volume's size (a backing it
        has already, as when reimaged, gets its disk replaced). Create from image and reimage
        both come here, Cinder's image checks applied either way."""
        with errors.image_errors(image_id):
            meta = _checked(image_service.show(context, image_id), volume)
            image = importer.ImageData(
                meta, lambda: image_service.download(context, image_id))
            self._images.import_image(image, self._scheduled_request(volume),
                                      volume.project_id, existing=self._backing_ref(volume))

    @errors.translated
    @errors.created
    def clone_image(self, context, volume, image_location, image_meta, image_service):
        """A volume from an image cached on the datastore (one clone task), or from an
        image file on this vCenter's datastores (a disk copy): no transfer either way."""
        urls = located.locations_of(image_location)
        with errors.image_errors(image_meta['id']):
            meta = _checked(image_meta, volume)
            request = self._scheduled_request(volume)
            ref = self._images.from_cache(meta.image_id, meta.checksum, request,
                                          volume.project_id)
            if ref is None and urls:
                ref = self._images.from_location(meta, urls, request, volume.project_id)
        if ref is None:
            return None, False
        return {'provider_location': ref}, True

    @errors.translated
    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        """Export the backing as a streamOptimized VMDK into the Glance image; of a volume
        an instance has attached (Cinder's ``--force``), a temporary copy taken through the
        instance (``_temporary_copy``), as vSphere exports no disk a running VM holds."""
        image_id = image_meta['id']
        instance = lookup.holding_instance(volume)
        if volume.volume_attachment and instance is None:
            raise exception.InvalidVolume(
                reason=_('volume %s is attached outside an instance: detach it to upload it '
                         'to an image') % volume.id)
        if image_meta.get('disk_format') != 'vmdk':
            raise exception.ImageUnacceptable(
                image_id=image_id, reason=_('volumes upload as disk_format vmdk only, not %s')
                                          % image_meta.get('disk_format'))
        meta = {'disk_format': 'vmdk', 'container_format': 'bare',
                'properties': exporter.image_properties(self._profile(volume).adapter_type)}
        if image_meta.get('name'):
            meta['name'] = image_meta['name']

        def store(data):
            image_service.update(context, image_id, meta, data=data)
        with errors.image_errors(image_id):
            if instance is None:
                self._images.export(self._backing_ref(volume), volume.size * GiB, store,
                                    'volume %s' % volume.id)
                return
            with self._temporary_copy(volume) as ref:
                self._images.export(ref, volume.size * GiB, store,
                                    'volume %s (through instance %s)' % (volume.id, instance))

    def _scheduled_request(self, volume) -> BackingRequest:
        """The volume's backing request in the pool the scheduler chose (if the backend
        reports datastore pools): where an image's import or clone goes when it fits. A
        backing that went elsewhere is re-homed at the next attach (``_pool_update``)."""
        return dataclasses.replace(self._backing_request(volume), pool=self._pool_of(volume))

    @contextlib.contextmanager
    def _temporary_copy(self, volume):
        """A backing copied from the volume's disk through the instance holding it
        (``_copy_source``: one read, one CloneVM), destroyed when done. It carries an id of
        its own, which Cinder does not know: one a crash leaves is an orphan (cmd.orphans)."""
        copy_id = str(uuid.uuid4())
        source = self._copy_source(volume)
        request = BackingRequest(volume_id=copy_id, name='%s-upload-%s' % (volume.name,
                                                                          copy_id[:8]),
                                 size_bytes=source.size_bytes, profile=self._profile(volume))
        ref = self._provisioner.clone(source, request, volume.project_id).ref
        try:
            yield ref
        finally:
            self._backings.delete(ref)


def _checked(image_meta: dict, volume) -> formats.ImageMeta:
    """The image's metadata with the checks Cinder's own flows make (formats, status,
    min_disk, ``image_conversion_disable``), made here whichever flow called."""
    meta = formats.ImageMeta.from_glance(image_meta)
    formats.check_min_disk(meta, volume.size * GiB)
    if image_utils.CONF.image_conversion_disable and meta.disk_format \
            is not formats.DiskFormat.VMDK:
        raise exception.ImageConversionNotAllowed(
            image_id=meta.image_id,
            reason=_('image conversion is disabled (image_conversion_disable) and volumes of '
                     'this backend are vmdk, but the image is %s: upload it as a vmdk image')
                   % meta.disk_format)
    return meta
