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

"""Copies of a volume: clones, snapshots (templates or VM snapshots), volumes from them and
reverts.

A full copy of an attached volume is taken through the instance holding its disk (vSphere
lets no other VM copy a disk a running VM holds: ``Lookup._copy_source``); COW snapshots of
an attached volume are refused. A snapshot that recorded nothing (cinder-volume died before
Cinder recorded it) is still deleted with its template, found by the snapshot's id.
"""

from cinder import exception
from oslo_log import log as logging

from vmdk_volume.core import backings as vbackings
from vmdk_volume.core import volume_type
from vmdk_volume.core.backings import BackingRequest
from vmdk_volume.driver import errors, locations, lookup
from vmdk_volume.i18n import _
from vmdk_volume.units import GiB
from vmdk_volume.vsphere import errors as verrors

LOG = logging.getLogger(__name__)


class Copies:
    """The driver's clones and snapshots (a mixin of ``VMwareVcVmdkDriver``)."""

    @errors.translated
    @errors.created
    def create_cloned_volume(self, volume, src_vref):
        """Full (CloneVM to a datastore chosen for the new type; of an attached source,
        through its instance) or linked clone."""
        profile = self._profile(volume)
        linked = profile.clone_type is volume_type.CloneType.LINKED
        if linked and src_vref.status == 'in-use':
            raise exception.InvalidVolume(
                reason=_('a linked clone needs a snapshot of the source, which is attached: '
                         'detach it or use vmware:clone_type=full'))
        source = self._backing(src_vref) if linked else self._copy_source(src_vref)
        if source is None:
            # a lazy source makes a lazy clone; the row may hold the source's moref (Cinder's
            # image-volume clone copies it)
            return {'provider_location': None}
        if not linked:
            return self._clone(volume, profile, source)
        backings = self._backings
        snapshot = backings.snapshot(source.ref, 'clone-%s' % volume.id,
                                     'base of linked clone %s' % volume.id)
        try:
            return self._clone(volume, profile, self._backings.describe(source.ref),
                               linked=True, snapshot=snapshot)
        except Exception:
            backings.remove_snapshot(snapshot)    # the clone failed: its base is not needed
            raise

    def _clone(self, volume, profile, source, **kwargs) -> dict:
        if source.size_bytes > volume.size * GiB:   # never a silent larger disk
            raise exception.InvalidVolume(
                reason=_('the disk of %s on vCenter is %.2f GiB, larger than the %d GiB volume '
                         'asked for (it grew after Cinder recorded its size): ask for a volume '
                         'of at least %d GiB') % (source.name, source.size_bytes / GiB,
                                               volume.size, -(-source.size_bytes // GiB)))
        if kwargs.get('linked') and volume.size * GiB > source.size_bytes:
            raise exception.InvalidVolume(
                reason=_('a linked clone cannot be larger than its source (%d GiB > %d GiB): '
                         'use vmware:clone_type=full') % (volume.size, source.size_bytes // GiB))
        request = self._backing_request(volume, profile)
        ref, where = self._provisioner.clone(source, request, volume.project_id,
                                             pool=self._pool_of(volume), **kwargs)
        return {'provider_location': ref, **self._pool_update(volume, where.datastore.ref)}

    @errors.translated
    def create_snapshot(self, snapshot):
        """A template clone in the project's Snapshots folder (of an attached volume, through
        its instance), or a VM snapshot (COW; refused while an instance has the volume)."""
        volume = snapshot.volume
        if self._config.snapshot_format == 'COW':
            instance = lookup.holding_instance(volume)
            if instance is not None:
                raise exception.InvalidSnapshot(
                    reason=_('volume %s is attached to instance %s, which holds its disk: '
                             'vSphere snapshots no disk a running VM holds through another VM '
                             '(FileLocked), a snapshot taken while the instance is off would '
                             'freeze the disk the instance writes to once it starts, and a VM '
                             'snapshot of the instance would take its other disks too; detach '
                             'the volume first, or keep snapshots as templates '
                             '(vmware_snapshot_format = template), which are taken through the '
                             'instance') % (volume.id, instance))
            ref = self._backing_ref(volume)
            if ref is None:
                return None     # nothing to copy: volumes from it will be lazy too
            snap = self._backings.snapshot(ref, snapshot.name,
                                           snapshot.display_description or '')
            return {'provider_location': locations.snapshot_location(locations.COW, snap)}
        source = self._copy_source(volume)
        if source is None:
            return None
        request = BackingRequest(volume_id=snapshot.id, name=snapshot.name,
                                 size_bytes=source.size_bytes, profile=self._profile(volume))
        template = self._provisioner.clone(source, request, volume.project_id,
                                           template=True).ref
        return {'provider_location': locations.snapshot_location(locations.TEMPLATE,
                                                                  template)}

    @errors.translated
    def delete_snapshot(self, snapshot):
        """Remove the template or VM snapshot (either driver's) if it is still the
        snapshot's (checked first); one that is gone, or another's, is left alone. A
        snapshot that recorded nothing (taken of a volume without backing, or whose
        cinder-volume died before Cinder recorded it) may still have a template: it is
        looked up by the snapshot's id (one call)."""
        try:
            source = self._snapshot_source(snapshot, gone_ok=True)
        except verrors.NotFound as error:
            LOG.info('Snapshot %s: %s; nothing to remove', snapshot.id, error)
            return
        if source is None:
            if not snapshot.provider_location:
                self._remove_unrecorded(snapshot)
        elif source.snapshot is None:
            self._backings.delete(source.backing.ref)
        else:
            self._backings.remove_snapshot(source.snapshot)

    def _remove_unrecorded(self, snapshot) -> None:
        """Destroy the template of a snapshot that recorded nothing, found by the snapshot's
        id (one call) and checked to carry it, if there is one."""
        template = self._backings.find(snapshot.id)
        if template is not None:
            LOG.warning('Snapshot %s recorded nothing; removing its template %s',
                        snapshot.id, template)
            self._backings.delete(template, vbackings.volume_identity(snapshot.id))

    @errors.translated
    @errors.created
    def create_volume_from_snapshot(self, volume, snapshot):
        """One clone task: from the template, or from the backing at the VM snapshot."""
        source = self._snapshot_source(snapshot)
        if source is None:
            return {'provider_location': None}
        profile = self._profile(volume)
        if source.snapshot is None:
            return self._clone(volume, profile, source.backing)
        linked = profile.clone_type is volume_type.CloneType.LINKED
        return self._clone(volume, profile, source.backing, snapshot=source.snapshot,
                           linked=linked)

    @errors.translated
    def revert_to_snapshot(self, context, volume, snapshot):
        """Revert to the VM snapshot, or copy the template's disk over the volume's (whose
        backing is looked up first: one that is gone is the error named)."""
        location = locations.parse_snapshot_location(snapshot)
        target = None
        if location is not None and location.kind != locations.COW:
            target = self._act(volume, self._backings.describe, required=True)
        source = self._snapshot_source(snapshot)
        if source is None:
            if self._backing_ref(volume) is None:
                return      # both blank
            raise exception.InvalidSnapshot(
                reason=_('snapshot %s was taken when volume %s had no backing: it has nothing '
                         'on vCenter to revert to') % (snapshot.id, volume.id))
        if source.snapshot is not None:
            self._backings.revert(source.snapshot)
        else:
            self._backings.copy_disk(source.backing, target)
