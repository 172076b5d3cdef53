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

"""How a stored ``provider_location`` becomes the object an operation acts on.

A moref value is not an identity: a vCenter restored from a backup, or rebuilt, gives the
morefs of lost VMs and snapshots to new ones, and another vCenter has VMs of the same morefs
(Cinder's generic migration copies a volume's row to the other backend). So a recorded moref
is acted on only once the object is seen to carry what it was made with (the backing's or
template's ``cinder.volume.id`` mark, a VM snapshot's name within the checked backing), read
in the call the operation makes anyway; otherwise the object is found again by identity
(``backings.find``). A VM that does not carry the identity is never changed or destroyed.
"""

import typing

from cinder import exception
from oslo_log import log as logging

from vmdk_volume.core import backings as vbackings
from vmdk_volume.driver import locations
from vmdk_volume.i18n import _
from vmdk_volume.vsphere import errors as verrors

LOG = logging.getLogger(__name__)


def holding_instance(volume) -> str | None:
    """The moref value of the VM that has the volume attached, or None (not attached, or
    attached outside an instance, as os-brick's connector attaches)."""
    for attachment in volume.volume_attachment or ():
        if attachment.attach_status == 'attached':
            return (attachment.connector or {}).get('instance')
    return None


class Lookup:
    """The driver's lookups of backings, templates and VM snapshots (a mixin of
    ``VMwareVcVmdkDriver``)."""

    def _backing_ref(self, volume) -> str | None:
        """The moref value of the volume's backing (see ``_act``; one call)."""
        return self._act(volume, self._backings.verify)

    def _backing(self, volume) -> vbackings.Backing | None:
        """The volume's backing, described (see ``_act``; one call)."""
        return self._act(volume, self._backings.describe)

    def _act(self, volume, act, *, stored: str | None = None, object_id: str | None = None,
             required: bool = False):
        """``act(ref, identity)`` on the volume's backing, None if it has none (lazy) unless
        ``required``; ``act`` raises NotFound if the VM does not carry ``identity``. The
        recorded moref goes first, then the backing found by identity; a volume that had a
        backing and has none any more raises NotFound. Backings carry ``name_id`` (after a
        generic migration, the id of the volume that made it: ``update_migrated_volume``);
        ``stored`` and ``object_id`` name another object (a template)."""
        own = object_id is None
        stored = stored or locations.volume_backing(volume)
        object_id = object_id or volume.name_id
        identity = vbackings.volume_identity(object_id)
        if stored:
            try:
                return act(stored, identity)
            except verrors.NotFound as error:
                LOG.warning('%s of %s: %s; looking it up by its identity', stored, object_id,
                            error)
                mismatch = error
        found = self._backings.find(object_id)
        if found is None and own and (old := self._old_intree_backing(volume, claim=True)):
            return act(old, None)       # found by name just now
        if found is None and (stored or required):
            raise verrors.NotFound('NotFound', '%s %s has no VM on vCenter (it recorded %s)' % (
                type(volume).__name__.lower(), volume.id, stored or 'none'))
        if found is None:
            return None
        if found == stored:
            raise mismatch
        return act(found, identity)

    def _copy_source(self, volume) -> vbackings.Backing | None:
        """What a full copy of the volume is cloned from: its backing (None if lazy), or,
        while an instance has it attached, that instance keeping only the volume's disk
        (vSphere lets no other VM copy a disk a running VM holds; after the instance's
        storage vMotion its disk is the current one). One read either way."""
        instance = holding_instance(volume)
        if instance is None:
            return self._backing(volume)
        return self._act(volume, lambda ref, identity: self._backings.through_instance(
            ref, instance, identity))

    def _old_intree_backing(self, volume, claim: bool = False) -> str | None:
        """For a volume older than this driver's start whose backing FindAllByUuid did not
        find: the backing an old in-tree release made, found by name (``intree``), and with
        ``claim`` given the volume's identity (``InTree.claim``). None at no cost for
        younger volumes."""
        if not self._predates_driver(volume):
            return None
        ref = self._intree.backing_named(volume.name)
        if ref is not None and claim:
            self._intree.claim(volume.name, ref, volume.name_id)
        return ref

    def _predates_driver(self, volume) -> bool:
        """Whether the volume was made before this driver started (by the in-tree driver,
        perhaps). ``volume`` is a Volume object or, from Cinder's ``accept_transfer``, its
        database row (always read from the database)."""
        is_set = getattr(volume, 'obj_attr_is_set', lambda name: True)
        if not is_set('created_at') or volume.created_at is None:
            return False      # a volume object not read from the database
        return volume.created_at.replace(tzinfo=None) < self._started_at

    def _snapshot_source(self, snapshot, gone_ok: bool = False) -> '_Source | None':
        """What either driver's snapshot has on vCenter (its template, or its VM snapshot and
        the backing holding it), checked to be the snapshot's; None if nothing (taken of a
        volume without backing). The in-tree driver's template is found by its inventory
        path (gone: InvalidSnapshot, or None if ``gone_ok``), its COW snapshot (nothing
        recorded) by name."""
        location = locations.parse_snapshot_location(snapshot)
        if location is None:
            backing = self._backing(snapshot.volume)
            found = backing and vbackings.named_snapshot(backing, snapshot.name, None)
            return _Source(backing, found) if found else None
        if location.kind == locations.TEMPLATE:
            return _Source(self._template(snapshot, location.value), None)
        if location.kind == locations.COW:
            snap = self._vm_snapshot(snapshot, location.value)
            return _Source(snap.backing, snap.ref)
        template = self._intree.entity_at(location.value)
        if template is None and gone_ok:
            LOG.warning('Snapshot %s: no template at inventory path %s; nothing to remove',
                        snapshot.id, location.value)
            return None
        if template is None:
            raise exception.InvalidSnapshot(
                reason=_('snapshot %s was recorded by the in-tree driver as the template at '
                         'inventory path %r, and vCenter has no VM there') % (snapshot.id,
                                                                           location.value))
        return _Source(self._backings.describe(template), None)

    def _template(self, snapshot, ref: str) -> vbackings.Backing:
        """The template of a template snapshot, checked to carry the snapshot's id."""
        return self._act(snapshot, self._backings.describe, stored=ref, object_id=snapshot.id,
                         required=True)

    def _vm_snapshot(self, snapshot, ref: str) -> '_VmSnapshot':
        """The VM snapshot of a COW snapshot in its volume's (checked) backing: the one of
        moref ``ref`` if it has the snapshot's name (see ``backings.named_snapshot``)."""
        backing = self._act(snapshot.volume, self._backings.describe, required=True)
        found = vbackings.named_snapshot(backing, snapshot.name, ref)
        if found is None:
            raise verrors.NotFound('NotFound', 'snapshot %s (VM snapshot %s named %s) is not '
                                   'in backing %s of volume %s any more' % (
                                       snapshot.id, ref, snapshot.name, backing.ref,
                                       snapshot.volume.id))
        return _VmSnapshot(found, backing)

    def _attached_backing(self, volume, connector, describe: bool):
        """The backing to hand to the connector (its moref value, or with ``describe`` the
        described ``Backing``): the one create_export just found by identity for this
        attach, else the recorded one if it carries the volume's identity, else the
        volume's backing found or made (a lost one is made anew, empty)."""
        exported = self._exported.pop(volume.id, None)
        if exported is not None and exported == volume.provider_location:
            return self._backings.describe(exported) if describe else exported
        act = self._backings.describe if describe else self._backings.verify
        try:
            if volume.provider_location:
                return self._act(volume, act)
        except verrors.NotFound as error:
            LOG.warning('Volume %s: %s; making it a backing', volume.id, error)
        ref, _ = self._ensure_backing(volume, connector)
        return self._backings.describe(ref) if describe else ref


class _Source(typing.NamedTuple):
    """A snapshot on vCenter: its template (``snapshot`` None), or the backing holding its
    VM snapshot (moref value ``snapshot``)."""

    backing: vbackings.Backing
    snapshot: str | None


class _VmSnapshot(typing.NamedTuple):
    """A VM snapshot (moref value) of a COW snapshot, and the backing holding it."""

    ref: str
    backing: vbackings.Backing
