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

"""Glance's image service as Cinder's code calls it, over image files in a directory.

``vmdk-volume demo`` and the tests stand it in for Glance: ``show``, ``download``, ``update``,
``create``, ``delete`` and ``get_location`` (from ``locations``, an image's store URLs) with
Glance's metadata shape (format, container, size, checksum, properties), streaming in chunks
as glanceclient does.
"""

import hashlib
import pathlib
import shutil
import uuid

CHUNK = 64 * 1024     # what glanceclient yields


class LocalImages:
    """Images kept as files in ``root``; ``downloads`` counts the downloads served."""

    temp_images = None      # Cinder's create flow looks for Glance's temporary image cache

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.images: dict[str, dict] = {}
        self.locations: dict[str, list[str]] = {}   # image id -> store URLs (vsphere://...)
        self.downloads = 0

    def add(self, source=None, disk_format: str = 'raw', container_format: str = 'bare',
            name: str | None = None, **properties) -> str:
        """A new image holding ``source``'s bytes, or queued and empty without one."""
        image_id = str(uuid.uuid4())
        target = self.path(image_id)
        if source is None:
            target.touch()
        else:
            shutil.copyfile(source, target)
        self.images[image_id] = {
            'id': image_id, 'name': name or 'image-%s' % image_id[:8],
            'status': 'queued' if source is None else 'active',
            'disk_format': disk_format, 'container_format': container_format,
            'size': target.stat().st_size, 'checksum': _md5(target) if source else '',
            'properties': dict(properties)}
        return image_id

    def create_empty(self, name: str = 'upload') -> dict:
        """A queued vmdk image, as Cinder's upload-to-image API leaves it."""
        return self.show(None, self.add(disk_format='vmdk', name=name))

    def path(self, image_id: str) -> pathlib.Path:
        return self.root / image_id

    def show(self, context, image_id: str) -> dict:
        if image_id not in self.images:
            from cinder import exception
            raise exception.ImageNotFound(image_id=image_id)
        return dict(self.images[image_id])

    def get_location(self, context, image_id: str):
        """(direct URL, locations) as Glance's v2 API gives them, from ``locations``."""
        self.show(context, image_id)
        urls = self.locations.get(image_id)
        if not urls:
            return None, None
        return urls[0], [{'url': url, 'metadata': {}} for url in urls]

    def download(self, context, image_id: str, data=None):
        """The image's bytes as an iterator of chunks, or written into ``data``."""
        self.show(context, image_id)
        self.downloads += 1
        if data is not None:
            with open(self.path(image_id), 'rb') as image:
                shutil.copyfileobj(image, data, CHUNK)
            return None
        return self._chunks(image_id)

    def _chunks(self, image_id: str):
        with open(self.path(image_id), 'rb') as image:
            while chunk := image.read(CHUNK):
                yield chunk

    def update(self, context, image_id: str, image_meta: dict, data=None, purge_props=True,
               store_id=None, base_image_ref=None, compress=False) -> dict:
        """Change the image's metadata and, with ``data`` (a file-like object, an iterable
        of chunks or bytes), its bytes."""
        meta = self.images[image_id]
        meta.update({k: v for k, v in image_meta.items() if k not in ('id', 'properties')})
        if 'properties' in image_meta or purge_props:
            meta['properties'] = dict(image_meta.get('properties') or {})
        if data is not None:
            with open(self.path(image_id), 'wb') as out:
                for chunk in _chunks_of(data):
                    out.write(chunk)
            meta.update(status='active', size=self.path(image_id).stat().st_size,
                        checksum=_md5(self.path(image_id)))
        return dict(meta)

    def create(self, context, image_meta: dict, data=None) -> dict:
        meta = dict(image_meta)
        image_id = self.add(disk_format=meta.pop('disk_format', 'raw'),
                            container_format=meta.pop('container_format', 'bare'),
                            name=meta.pop('name', None), **meta.pop('properties', {}))
        return self.update(context, image_id, {}, data, purge_props=False)

    def delete(self, context, image_id: str) -> bool:
        self.images.pop(image_id, None)
        self.path(image_id).unlink(missing_ok=True)
        return True


def _chunks_of(data):
    if isinstance(data, bytes):
        return [data]
    if hasattr(data, 'read'):
        return iter(lambda: data.read(CHUNK), b'')
    return data


def _md5(path: pathlib.Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, 'rb') as data:
        while chunk := data.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
