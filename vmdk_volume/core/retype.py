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

"""Retype and migration within one vCenter: the cheapest change that makes a backing what a
volume type, or another backend on the same vCenter, asks.

Retype paths, cheapest first (each a single task unless said):

- nothing on vCenter: the backing already is what the new type asks (e.g. only
  ``vmware:clone_type`` changed);
- ReconfigVM: a new storage policy the current datastore satisfies, and/or a new adapter type
  (the disk moves to a new controller; the old one is removed);
- RelocateVM with a disk locator: the disk type changes (vCenter converts a disk while it
  copies it, so it goes to another datastore), or the current datastore does not satisfy the
  new policy; the locator carries the new disk type and policy;
- CloneVM onto the same datastore, when the disk type changes and no other datastore fits
  (three tasks: clone, destroy the original, give the clone the volume's identity).

``Impossible`` (Cinder then migrates, or refuses): no datastore fits; the change needs a clone
but the backing has VM snapshots (a clone would drop them); the adapter changes but the backing
has VM snapshots (reverting one would bring the old controller back); an instance has the
volume attached and the change needs a move or a new adapter (only a new policy its datastore
satisfies, or a change vCenter never sees, is made while attached).

What to do is decided from typed facts by ``retype_plan.plan``; ``Mover`` applies the plan.
"""

import dataclasses
import re

from oslo_log import log as logging

from vmdk_volume.core import placement, retype_plan
from vmdk_volume.core.backings import Backing, BackingRequest, Backings, volume_identity
from vmdk_volume.core.provisioning import Placer, Provisioner
from vmdk_volume.core.retype_plan import Impossible
from vmdk_volume.vsphere import errors, specs
from vmdk_volume.vsphere.policies import Policies

LOG = logging.getLogger(__name__)
RETYPED_SUFFIX = '-retyped'     # the name of the copy a retype makes on the same datastore


@dataclasses.dataclass(frozen=True)
class Scope:
    """Where another backend on the same vCenter keeps volumes (from its capabilities)."""

    clusters: tuple[str, ...] = ()
    datastore_regex: str | None = None
    volume_folder: str = 'Volumes'

    def as_capability(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_capability(cls, value: dict) -> 'Scope':
        return cls(clusters=tuple(value.get('clusters') or ()),
                   datastore_regex=value.get('datastore_regex') or None,
                   volume_folder=value.get('volume_folder') or 'Volumes')


class Mover:
    """Retypes and migrates backings: ``backings`` changes them, ``policies`` names storage
    policies, ``placer`` chooses where they go, ``provisioner`` files them;
    ``volume_folder`` is the backend's volume folder option."""

    def __init__(self, client, backings: Backings, policies: Policies, placer: Placer,
                 provisioner: Provisioner, volume_folder: str):
        self._client = client
        self._backings = backings
        self._policies = policies
        self._placer = placer
        self._provisioner = provisioner
        self._volume_folder = volume_folder

    def retype(self, ref: str, request: BackingRequest, old_policy: str | None,
               project_id: str, backing: Backing | None = None,
               holder: str | None = None) -> str:
        """Make the backing ``ref`` (``backing``, if just described) what ``request.profile``
        asks; return its (possibly new) moref value. Raises Impossible when that cannot be
        done in place, or when the instance ``holder`` has the volume attached and the change
        would move its disk, change its adapter or set a policy on the backing's disk after
        the instance's storage vMotion moved it (before any change)."""
        new = request.profile
        backing = backing or self._backings.describe(ref)
        profile_id = self._policies.profile_id(new.storage_policy) if new.storage_policy \
            else None
        compatible = self._placer.compatible_datastores(profile_id) if profile_id else None
        chosen = retype_plan.plan(backing, new, old_policy, compatible, profile_id)
        if holder is not None:
            retype_plan.check_attached(chosen, holder)
            if chosen.set_policy:
                self._check_not_moved(backing, holder)
        if chosen.move:
            request = dataclasses.replace(request, profile_id=profile_id)
            ref = self._move(chosen, backing, request, compatible, project_id)
            if chosen.adapter is not None:
                backing = self._backings.describe(ref)
        if chosen.reconfigures:
            self._reconfigure(chosen, ref, backing, profile_id)
        return ref

    def _check_not_moved(self, backing: Backing, instance: str) -> None:
        """Impossible if the storage vMotion of the instance holding the disk moved it off
        the backing's file (one read): the backing names a file that is gone until Nova's
        detach gives it the moved disk."""
        held = self._backings.through_instance(backing.ref, instance)
        if held.vmdk_path != backing.vmdk_path:
            raise Impossible(
                'it is attached to instance %s, whose storage vMotion moved its disk to %s: '
                'the backing has the disk again once Nova detaches it; detach the volume, '
                'then retype it' % (instance, held.vmdk_path))

    def _reconfigure(self, chosen: retype_plan.Plan, ref: str, backing: Backing,
                     profile_id: str | None) -> None:
        """One ReconfigVM: the disk to a new controller and/or the new policy."""
        client, changes = self._client, []
        if chosen.adapter is not None:
            changes += specs.adapter_change(client, backing.disk, backing.controller,
                                            chosen.adapter)
        if chosen.set_policy:
            changes.append(specs.disk_edit(client, backing.disk, profile_id=profile_id))
        self._backings.reconfigure(ref, specs.device_changes(
            client, changes, profile_id, set_profile=chosen.set_policy))

    def _move(self, chosen: retype_plan.Plan, backing: Backing, request: BackingRequest,
              compatible, project_id: str) -> str:
        """Relocate to another datastore with the new disk type and policy, or clone in
        place if none fits and the plan allows it."""
        placer = self._placer
        try:
            where = placer.place(placer.placement_request(
                backing.size_bytes, policy_datastores=compatible,
                exclude_datastores=frozenset([backing.datastore])))
        except placement.NoPlacement as error:
            retype_plan.clone_in_place(chosen, backing, compatible, str(error))
            return self._clone_in_place(backing, request, compatible, project_id)
        self._backings.relocate(backing.ref, where, disk_key=backing.disk_key,
                                disk_type=request.profile.disk_type,
                                profile_id=request.profile_id, drop_profile=chosen.drop_policy)
        return backing.ref

    def _clone_in_place(self, backing: Backing, request: BackingRequest, compatible,
                        project_id: str) -> str:
        placer = self._placer
        others = frozenset(placer.inventory().datastores) - {backing.datastore}
        where = placer.place(placer.placement_request(
            backing.size_bytes, policy_datastores=compatible, exclude_datastores=others))
        temporary = dataclasses.replace(request, name=request.name + RETYPED_SUFFIX)
        folder = self._provisioner.volume_folder(where, project_id)
        source = self._backings.describe(backing.ref)
        try:
            clone = self._backings.clone_to(source, temporary, where, folder)
        except errors.AlreadyExists as duplicate:
            self._remove_leftover_copy(duplicate, request.volume_id)
            clone = self._backings.clone_to(source, temporary, where, folder)
        try:
            self._backings.delete(backing.ref)
        except errors.VSphereError:
            _remove(self._backings, clone, 'the copy made to retype %s' % request.volume_id)
            raise
        try:
            self._backings.reconfigure(clone, specs.identity_config(
                self._client, name=request.name, volume_id=request.volume_id))
        except errors.VSphereError:
            LOG.error('Volume %s now lives in backing %s (named %s): give it the name %s and '
                      'instanceUuid %s', request.volume_id, clone, temporary.name,
                      request.name, request.volume_id)
            raise
        return clone

    def _remove_leftover_copy(self, duplicate: errors.AlreadyExists, volume_id: str) -> None:
        """Destroy the VM holding the copy's name if it carries the volume's mark: the copy
        of a retype of this volume that was interrupted (cinder-volume killed), which may
        hold older data; no other retype of the volume runs (Cinder's ``retyping`` status
        excludes one). Else re-raise."""
        backings = self._backings
        if not duplicate.holder:
            raise duplicate
        try:
            backings.verify(duplicate.holder, volume_identity(volume_id))
        except errors.NotFound:
            raise duplicate from None
        LOG.warning('Destroying %s, the copy of an interrupted retype of volume %s',
                    duplicate.holder, volume_id)
        backings.delete(duplicate.holder)

    def migrate(self, ref: str, size_bytes: int, policy: str | None, target: Scope,
                project_id: str, backing: Backing | None = None) -> None:
        """Move the backing (``backing``, if just described) where another backend of this
        vCenter may keep it (nothing if its datastore is one already), into that backend's
        volume folder."""
        placer = self._placer
        profile_id = self._policies.profile_id(policy) if policy else None
        request = placement.PlacementRequest(
            size_bytes=size_bytes, clusters=target.clusters,
            datastore_regex=re.compile(target.datastore_regex) if target.datastore_regex
            else None,
            policy_datastores=placer.compatible_datastores(profile_id) if profile_id else None)
        backing = backing or self._backings.describe(ref)
        allowed = placement.candidate_datastores(placer.inventory(), request)
        if backing.datastore not in {d.ref for d in allowed}:
            try:
                where = placer.place(request)
            except placement.NoPlacement as error:
                raise Impossible('no datastore of the target backend fits: %s' % error) \
                    from error
            self._backings.relocate(ref, where)
            backing = None      # its datacenter may have changed
        if target.volume_folder != self._volume_folder:
            self._provisioner.move_to_project(ref, project_id, target.volume_folder,
                                              backing)


def _remove(backings: Backings, ref: str, what: str) -> None:
    """Destroy ``ref`` after a failure; log its moref if that fails too."""
    try:
        backings.delete(ref)
    except errors.VSphereError as error:
        LOG.error('Could not remove %s (VM %s): %s; delete it by hand', what, ref, error)
