"""Images: Glance images into volumes (imported, or cloned from the datastore cache) and
volumes back into images (see ``vmdk_volume.images``)."""

from cinder import exception

from vmdk_volume.driver import errors
from vmdk_volume.images import exporter, formats, importer, located

GiB = 1024 ** 3


class Imaging:
    """The driver's image methods (a mixin of ``VMwareVcVmdkDriver``)."""

    @errors.translated
    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        """Import the image (any subformat of VMDK, qcow2 or raw, bare or in an OVA) into
        the volume's backing through an NFC lease, grown to the volume's size."""
        with errors.image_errors(image_id):
            meta = formats.ImageMeta.from_glance(image_service.show(context, image_id))
            image = importer.ImageData(
                meta, lambda: image_service.download(context, image_id))
            self._images.import_image(image, self._backing_request(volume),
                                      volume.project_id, existing=self._backing_ref(volume)
                                      if volume.provider_location else None)

    @errors.translated
    def clone_image(self, context, volume, image_location, image_meta, image_service):
        """A volume from an image cached on the datastore (one clone task), or from an
        image file on this vCenter's datastores (a disk copy): no transfer either way."""
        urls = located.locations_of(image_location)
        with errors.image_errors(image_meta['id']):
            request = self._backing_request(volume)
            ref = self._images.from_cache(image_meta['id'], image_meta.get('checksum') or '',
                                          request, volume.project_id)
            if ref is None and urls:
                ref = self._images.from_location(formats.ImageMeta.from_glance(image_meta),
                                                 urls, request, volume.project_id)
        if ref is None:
            return None, False
        return {'provider_location': ref}, True

    @errors.translated
    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        """Export the backing as a streamOptimized VMDK into the Glance image."""
        image_id = image_meta['id']
        if volume.volume_attachment:
            raise exception.InvalidVolume(
                reason='volume %s is attached: detach it to upload it to an image'
                       % volume.id)
        if image_meta.get('disk_format') != 'vmdk':
            raise exception.ImageUnacceptable(
                image_id=image_id, reason='volumes upload as disk_format vmdk only, not %s'
                                          % image_meta.get('disk_format'))
        meta = {'disk_format': 'vmdk', 'container_format': 'bare',
                'properties': exporter.image_properties(self._profile(volume).adapter_type)}
        if image_meta.get('name'):
            meta['name'] = image_meta['name']

        def store(data):
            image_service.update(context, image_id, meta, data=data)
        with errors.image_errors(image_id):
            self._images.export(self._backing_ref(volume), volume.size * GiB, store,
                                'volume %s' % volume.id)
