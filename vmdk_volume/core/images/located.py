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

"""Glance images already on this vCenter's datastores, copied datastore-side.

glance_store's VMware store keeps an image as a file on a datastore and gives its location
as ``vsphere://<vCenter>/folder/<path>?dcPath=<datacenter path>&dsName=<datastore>``. When
that vCenter is ours and the file is a monolithicSparse VMDK (``vmware_disktype=sparse``)
whose one extent is the file itself,
the volume's backing is made with the image's virtual size and its disk overwritten by
``CopyVirtualDisk_Task`` from the image file (which converts the hosted sparse disk), then
grown: no image byte crosses this host but the file's head, read to check it. A file whose
descriptor names a parent, a delta or any extent but itself (vCenter's copy might follow it)
is refused outright. Anything else (another vCenter, a streamOptimized or flat image, an
extent named differently from the file, an unknown datacenter or datastore) is left to the
streamed import, which checks it again.
"""

import dataclasses
import urllib.parse
from collections.abc import Iterable

from oslo_log import log as logging

from vmdk_volume.core.backings import BackingRequest, Backings
from vmdk_volume.core.images import formats, transfer
from vmdk_volume.core.provisioning import Placer, Provisioner
from vmdk_volume.vsphere import errors
from vmdk_volume.vsphere.session import Endpoint

LOG = logging.getLogger(__name__)
SCHEME = 'vsphere'


@dataclasses.dataclass(frozen=True)
class DatastoreFile:
    """A file on a datastore, as a ``vsphere://`` location names it."""

    host: str
    datacenter_path: str      # dcPath: the datacenter's inventory path below the root
    datastore: str
    path: str                 # below the datastore's root

    @classmethod
    def parse(cls, url: str) -> 'DatastoreFile | None':
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        if (parts.scheme != SCHEME or not parts.path.startswith('/folder/')
                or not query.get('dcPath') or not query.get('dsName')):
            return None
        return cls(host=parts.hostname or '', datacenter_path=query['dcPath'][0],
                   datastore=query['dsName'][0],
                   path=urllib.parse.unquote(parts.path[len('/folder/'):]))

    @property
    def datacenter_name(self) -> str:
        return self.datacenter_path.rstrip('/').rsplit('/', 1)[-1]

    @property
    def datastore_path(self) -> str:
        return '[%s] %s' % (self.datastore, self.path)

    def http_url(self, port: int) -> str:
        """The file on the vCenter's datastore HTTP interface."""
        query = urllib.parse.urlencode({'dcPath': self.datacenter_path,
                                        'dsName': self.datastore})
        return 'https://%s:%d/folder/%s?%s' % (self.host, port,
                                               urllib.parse.quote(self.path), query)


def locations_of(image_location) -> list[str]:
    """The URLs of Cinder's ``image_location`` (direct URL, list of location dicts)."""
    if not image_location:
        return []
    direct_url, locations = image_location
    urls = [direct_url] if direct_url else []
    return urls + [loc.get('url') for loc in locations or () if loc.get('url')]


class LocatedImages:
    """Volumes from image files on the datastores of one backend's vCenter: ``placer``'s
    inventory names them, ``provisioner`` makes and grows the backings they are copied to."""

    def __init__(self, placer: Placer, provisioner: Provisioner, backings: Backings,
                 endpoint: Endpoint, peer: transfer.Peer):
        self._placer = placer
        self._provisioner = provisioner
        self._backings = backings
        self._endpoint = endpoint
        self._peer = peer

    def find(self, urls: Iterable[str]) -> tuple[DatastoreFile, str] | None:
        """The first location on this vCenter, with its datacenter's moref value."""
        host = self._endpoint.host
        for url in urls:
            found = DatastoreFile.parse(url)
            if found is None or found.host != host.lower():
                continue
            datacenter = self._datacenter(found)
            if datacenter is not None:
                return found, datacenter
        return None

    def _datacenter(self, found: DatastoreFile) -> str | None:
        inventory = self._placer.inventory()
        for store in inventory.datastores.values():
            datacenter = inventory.datacenters.get(store.datacenter)
            if (store.name == found.datastore and datacenter is not None
                    and datacenter.name == found.datacenter_name):
                return datacenter.ref
        return None

    def probe(self, found: DatastoreFile, meta: formats.ImageMeta) -> formats.Probe | None:
        """The image file's probe if it can be copied as a disk, else None."""
        if meta.disk_format is not formats.DiskFormat.VMDK or meta.container != 'bare':
            return None
        try:
            head, size = transfer.read_head(self._peer, found.http_url(
                self._endpoint.port), formats.HEAD_BYTES)
        except transfer.TransferFailed as error:
            LOG.warning('Image %s: cannot read %s (%s): importing it instead',
                        meta.image_id, found.datastore_path, error)
            return None
        probe = formats.sparse_disk_head(head, found.path.rsplit('/', 1)[-1], size)
        if probe is not None:
            formats.check_claim(meta, probe)
        return probe

    def copy(self, found: DatastoreFile, datacenter: str, probe: formats.Probe,
             request: BackingRequest, project_id: str) -> str:
        """A new backing for ``request`` whose disk is a datastore-side copy of the file."""
        formats.check_fits(probe.virtual_size, request.size_bytes)
        provisioner = self._provisioner
        ref = provisioner.create(
            dataclasses.replace(request, size_bytes=probe.virtual_size), project_id).ref
        try:
            self._backings.copy_disk_file(found.datastore_path, datacenter,
                                          self._backings.describe(ref))
            if request.size_bytes > probe.virtual_size:
                provisioner.extend(ref, request.size_bytes)
        except BaseException:
            try:
                self._backings.delete(ref)
            except errors.VSphereError as error:
                LOG.warning('Could not destroy the half-made backing %s: %s', ref, error)
            raise
        LOG.info('Volume %s copied on vCenter from the image file %s', request.volume_id,
                 found.datastore_path)
        return ref
