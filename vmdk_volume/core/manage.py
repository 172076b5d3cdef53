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

"""Existing VMs brought under Cinder (manage), let go (unmanage), and listed.

The VM itself becomes the volume's backing; no data is copied. It qualifies when it is not a
template, is powered off, has no snapshots and exactly one disk, a flat VMDK, and carries no
other volume's mark. Managing files it in the project's volume folder and gives it the volume's
identity (name, instanceUuid, extraConfig ``cinder.volume.id``, managedBy, disk UUID), so
``Backings.find`` finds it. Unmanaging drops only the extraConfig mark: the VM stays where it
is, and is listed as manageable again.

References (validated, see ``resolve``): ``{'source-id': '<VM moref value>'}``,
``{'source-name': '<VM name>'}`` (unique in vCenter), or the in-tree driver's
``{'source-name': '<vmdk path>@<VM inventory path>'}``. A VM snapshot of a managed backing
becomes a Cinder snapshot with ``{'source-id': '<snapshot moref>'}`` or
``{'source-name': '<snapshot name>'}``.
"""

import dataclasses
from collections.abc import Iterator, Mapping

from oslo_log import log as logging

from vmdk_volume.core import backings as vbackings
from vmdk_volume.core.provisioning import Provisioner
from vmdk_volume.vsphere import devices, errors, inventory, properties, search_index, specs
from vmdk_volume.vsphere.vm import VirtualMachine

LOG = logging.getLogger(__name__)
_PATHS = ['name', 'parent', 'config.template', 'config.extraConfig', 'config.hardware.device',
          'runtime.powerState', 'snapshot']
LINKED_CLONE_BASE = 'clone-'     # prefix of the snapshots linked clones are made from


class InvalidReference(ValueError):
    """The reference is malformed, names nothing, or names something that cannot be managed."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A VM as a possible volume backing; ``reason`` says why it is not safe to manage."""

    ref: str
    name: str
    size_bytes: int
    vmdk_path: str | None
    parent: str | None           # folder moref value
    volume_id: str | None        # the Cinder volume whose mark it carries
    reason: str | None
    snapshots: tuple['Snapshot', ...] = ()


@dataclasses.dataclass(frozen=True)
class Snapshot:
    ref: str
    name: str


class Manager:
    """Manage and unmanage on one vCenter: ``backings`` reads and changes VMs,
    ``provisioner`` files them in projects' volume folders."""

    def __init__(self, client, backings: vbackings.Backings, provisioner: Provisioner):
        self._client = client
        self._backings = backings
        self._provisioner = provisioner

    def candidates(self) -> list[Candidate]:
        """Every VM with a disk that is not a template: one call."""
        items = inventory.virtual_machines(self._client, _PATHS)
        found = (_candidate(item.value, item.props) for item in items
                 if not item.get('config.template'))
        return sorted((c for c in found if c.vmdk_path), key=lambda c: (c.name, c.ref))

    def resolve(self, reference: Mapping[str, str]) -> Candidate:
        """The VM a manage reference names, safe to manage; InvalidReference if not."""
        candidate = self._find(reference)
        if candidate.reason:
            raise InvalidReference('VM %s (%s) cannot become a volume: %s'
                                   % (candidate.name, candidate.ref, candidate.reason))
        return candidate

    def _find(self, reference: Mapping[str, str]) -> Candidate:
        if reference.get('source-id'):
            ref = reference['source-id']
            try:
                props = VirtualMachine(self._client, ref).read(_PATHS)
            except errors.NotFound:
                props = None
            if not props:
                raise InvalidReference('vCenter has no VM %s' % ref)
            if props.get('config.template'):
                raise InvalidReference('%s (%s) is a template, not a VM: templates (snapshots, '
                                       'cached images) cannot become volumes'
                                       % (ref, props.get('name')))
            return _candidate(ref, props)
        name = (reference.get('source-name') or '').strip()
        if not name:
            raise InvalidReference("give {'source-id': '<VM moref>'}, {'source-name': "
                                   "'<VM name>'} or {'source-name': '<vmdk path>@<VM "
                                   "inventory path>'}")
        if '@' in name:
            return self._by_inventory_path(*name.split('@', 1))
        named = [c for c in self.candidates() if c.name == name]
        if len(named) != 1:
            raise InvalidReference('%s VM named %r: use source-id (%s)' % (
                'more than one' if named else 'no', name,
                ', '.join(c.ref for c in named) or 'the VM moref value'))
        return named[0]

    def _by_inventory_path(self, vmdk_path: str, inventory_path: str) -> Candidate:
        vm = search_index.vm_at(self._client, inventory_path)
        if vm is None:
            raise InvalidReference('no VM at inventory path %r' % inventory_path)
        candidate = self._find({'source-id': vm})
        if candidate.vmdk_path != vmdk_path.strip():
            raise InvalidReference('VM %r has no disk %r (its disk: %s)'
                                   % (inventory_path, vmdk_path, candidate.vmdk_path))
        return candidate

    def adopt(self, candidate: Candidate, volume_id: str, name: str, project_id: str) -> str:
        """Make the VM the volume's backing: file it under the project, then mark it."""
        self._provisioner.move_to_project(candidate.ref, project_id)
        backing = self._backings.describe(candidate.ref)
        try:
            self._backings.reconfigure(candidate.ref, specs.identity_config(
                self._client, name=name, volume_id=volume_id, disk=backing.disk))
        except errors.VSphereError:
            self._move_back(candidate)
            raise
        LOG.info('VM %s (%s) is now the backing of volume %s', candidate.name, candidate.ref,
                 volume_id)
        return candidate.ref

    def _move_back(self, candidate: Candidate) -> None:
        try:
            self._backings.move(candidate.ref, candidate.parent)
        except errors.VSphereError as error:
            LOG.error('Could not move VM %s back to folder %s: %s', candidate.ref,
                      candidate.parent, error)

    def release(self, ref: str) -> None:
        """Unmanage: drop the volume mark, leave the VM where and as it is."""
        self._backings.reconfigure(ref, specs.identity_config(
            self._client, name=None, volume_id='', mark=False))

    def snapshot(self, backing_ref: str, reference: Mapping[str, str]) -> Snapshot:
        """The VM snapshot of the backing that ``reference`` names."""
        wanted_id, wanted_name = reference.get('source-id'), reference.get('source-name')
        if not (wanted_id or wanted_name):
            raise InvalidReference("give {'source-id': '<snapshot moref>'} or "
                                   "{'source-name': '<snapshot name>'}")
        info = VirtualMachine(self._client, backing_ref).read(['snapshot']).get(
            'snapshot')
        found = [s for s in _snapshots(info)
                 if s.ref == wanted_id or (not wanted_id and s.name == wanted_name)]
        if len(found) != 1:
            raise InvalidReference('%s snapshot %s of backing %s' % (
                'more than one' if found else 'no', wanted_id or repr(wanted_name),
                backing_ref))
        return found[0]


def _candidate(ref: str, props: Mapping) -> Candidate:
    disks = devices.disks(devices.device_list(props.get('config.hardware.device')))
    snapshots = tuple(_snapshots(props.get('snapshot')))
    volume_id = _mark(props.get('config.extraConfig'))
    first = disks[0] if disks else None
    reason = _unsafe(props, disks, snapshots, volume_id)
    parent = props.get('parent')
    return Candidate(ref=ref, name=props.get('name'),
                     size_bytes=devices.capacity_bytes(first) if first else 0,
                     vmdk_path=devices.file_name(first) if first else None,
                     parent=parent.value if parent is not None else None,
                     volume_id=volume_id, reason=reason, snapshots=snapshots)


def _unsafe(props: Mapping, disks: list, snapshots: tuple, volume_id: str | None) -> str | None:
    if volume_id:
        return 'it is the backing of Cinder volume %s' % volume_id
    if not disks:
        return 'it has no disk'
    if len(disks) > 1:
        return 'it has %d disks; only a VM with one disk can become a volume' % len(disks)
    if not devices.is_flat(disks[0]):
        return 'its disk is not a flat VMDK (%s)' % devices.kind_of(disks[0].backing)
    if props.get('runtime.powerState') != 'poweredOff':
        return 'it is %s; power it off first' % props.get('runtime.powerState')
    if snapshots:
        return 'it has %d snapshots; delete or consolidate them first' % len(snapshots)
    return None


def _mark(extra_config) -> str | None:
    return properties.options(extra_config).get(vbackings.VOLUME_ID_KEY) or None


def _snapshots(info) -> Iterator[Snapshot]:
    """The snapshots of a VM's snapshot tree, depth first."""
    for tree in properties.snapshot_trees(info):
        yield Snapshot(ref=tree.snapshot.value, name=tree.name)
