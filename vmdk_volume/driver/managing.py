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

"""Manage and unmanage: existing vCenter VMs and VM snapshots become Cinder volumes and
snapshots (see ``vmdk_volume.core.manage`` for what qualifies)."""

from cinder.volume import volume_utils

from vmdk_volume.core import manage
from vmdk_volume.driver import errors, locations
from vmdk_volume.units import GiB


class Managing:
    """The driver's manage/unmanage methods (a mixin of ``VMwareVcVmdkDriver``)."""

    @errors.translated
    def manage_existing_get_size(self, volume, existing_ref):
        with errors.reference_errors(existing_ref):
            return -(-self._manager.resolve(existing_ref).size_bytes // GiB)

    @errors.translated
    def manage_existing(self, volume, existing_ref):
        """The VM becomes the volume's backing (grown to whole GiB), see ``manage``."""
        self._profile(volume)
        with errors.reference_errors(existing_ref):
            candidate = self._manager.resolve(existing_ref)
        if candidate.size_bytes < volume.size * GiB:
            self._provisioner.extend(candidate.ref, volume.size * GiB)
        ref = self._manager.adopt(candidate, volume.name_id, volume.name, volume.project_id)
        return {'provider_location': ref}

    @errors.translated
    def unmanage(self, volume):
        """The backing stays on vCenter without the volume's mark; a lazy volume's is made
        first (empty, as the volume is), so that what Cinder lets go can be managed again."""
        ref = self._backing_ref(volume)
        if ref is None:
            ref = self._create_backing(volume, self._profile(volume))['provider_location']
        self._manager.release(ref)

    @errors.translated
    def get_manageable_volumes(self, cinder_volumes, marker, limit, offset, sort_keys,
                               sort_dirs):
        ours = {v.name_id: v.id for v in cinder_volumes}
        named = {v.name: v.id for v in cinder_volumes}    # old in-tree backings: by name only
        entries = []
        for vm in self._manager.candidates():
            cinder_id = ours.get(vm.volume_id) or named.get(vm.name)
            reason = 'already managed' if cinder_id else vm.reason
            entries.append({'reference': {'source-id': vm.ref}, 'size': -(-vm.size_bytes // GiB),
                            'safe_to_manage': reason is None, 'reason_not_safe': reason,
                            'cinder_id': cinder_id,
                            'extra_info': {'name': vm.name, 'disk': vm.vmdk_path}})
        return volume_utils.paginate_entries_list(entries, marker, limit, offset, sort_keys,
                                                  sort_dirs)

    @errors.translated
    def manage_existing_snapshot_get_size(self, snapshot, existing_ref):
        self._managed_snapshot(snapshot, existing_ref)
        return snapshot.volume.size

    @errors.translated
    def manage_existing_snapshot(self, snapshot, existing_ref):
        """A VM snapshot of the volume's backing becomes a (COW) Cinder snapshot."""
        return {'provider_location': locations.snapshot_location(
            locations.COW, self._managed_snapshot(snapshot, existing_ref).ref)}

    def unmanage_snapshot(self, snapshot):
        """A VM snapshot carries no mark of ours: nothing to drop."""

    @errors.translated
    def get_manageable_snapshots(self, cinder_snapshots, marker, limit, offset, sort_keys,
                                 sort_dirs):
        ours = {s.provider_location: s.id for s in cinder_snapshots if s.provider_location}
        named = {s.name: s.id for s in cinder_snapshots}   # in-tree COW snapshots: by name
        entries = []
        for vm in self._manager.candidates():
            for snap in vm.snapshots if vm.volume_id else ():
                cinder_id = ours.get(locations.snapshot_location(locations.COW, snap.ref)) or \
                    named.get(snap.name)
                reason = 'already managed' if cinder_id else (
                    'base of a linked clone' if snap.name.startswith(manage.LINKED_CLONE_BASE)
                    else None)
                entries.append({'reference': {'source-id': snap.ref},
                                'size': -(-vm.size_bytes // GiB),
                                'safe_to_manage': reason is None, 'reason_not_safe': reason,
                                'cinder_id': cinder_id, 'extra_info': {'name': snap.name},
                                'source_reference': {'source-id': vm.ref}})
        return volume_utils.paginate_entries_list(entries, marker, limit, offset, sort_keys,
                                                  sort_dirs)

    def _managed_snapshot(self, snapshot, existing_ref) -> manage.Snapshot:
        with errors.reference_errors(existing_ref):
            ref = self._backing_ref(snapshot.volume)
            if ref is None:
                raise manage.InvalidReference('volume %s has no backing, so no snapshots'
                                              % snapshot.volume.id)
            return self._manager.snapshot(ref, existing_ref)
