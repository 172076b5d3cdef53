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

"""What Cinder's in-tree VMDK driver left on vCenter, found the way it recorded it.

Its template snapshots are recorded by inventory path (found with one FindByInventoryPath
call); its COW snapshots are VM snapshots of the volume's backing named after the Cinder
snapshot (one read of the backing's snapshot tree). See docs/UPSTREAM.md.

Backings made by in-tree releases before instanceUuid = volume id carry only their name
(``volume-<id>``): like the in-tree driver, one read of every VM's name builds an index of
such backings, here on first need (never per operation). The first one found is given the
identity in-tree releases since give (instanceUuid and ``cinder.volume.id`` = the volume's
name id, ``managedBy``; its name is kept): from then on FindAllByUuid finds it, here, in
other cinder-volume processes, and in the in-tree driver after a rollback (it looks a
backing up by instanceUuid first, and leaves such backings out of its name cache).
"""

import dataclasses
import re
import threading

from oslo_log import log as logging

from vmdk_volume.vsphere import errors, inventory, properties, search_index, specs
from vmdk_volume.vsphere.vm import VirtualMachine

LOG = logging.getLogger(__name__)
_BACKING_NAME = re.compile(r'volume-([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})')


# What the driver records (driver.locations); the in-tree driver records nothing for volumes
# and COW snapshots, an inventory path (with '/') for template snapshots.
OUR_VOLUME = re.compile(r'vm-\d+')
OUR_SNAPSHOT = re.compile(r'template:vm-\d+|cow:snapshot-\d+')


@dataclasses.dataclass(frozen=True)
class Recorded:
    """A volume's or snapshot's row in Cinder's database, as far as locating it goes."""

    kind: str                    # 'volume' or 'snapshot'
    id: str
    provider_location: str | None


def classify(row: Recorded) -> str:
    """'ours', 'none' (nothing recorded), 'inventory path' or 'unknown'."""
    location = row.provider_location
    if not location:
        return 'none'
    ours = OUR_VOLUME if row.kind == 'volume' else OUR_SNAPSHOT
    if ours.fullmatch(location):
        return 'ours'
    return 'inventory path' if row.kind == 'snapshot' and '/' in location else 'unknown'


class InTree:
    """Lookups of in-tree objects on one vCenter client."""

    def __init__(self, client):
        self._client = client
        self._lock = threading.Lock()
        self._by_name: dict[str, str] | None = None

    def backing_named(self, name: str) -> str | None:
        """The moref value of the unmarked backing ``name`` (see the module docstring)."""
        with self._lock:
            if self._by_name is None:
                self._by_name = self.old_backings()[0]
            return self._by_name.get(name)

    def claim(self, name: str, ref: str, volume_id: str) -> None:
        """Give the old backing ``ref`` (named ``name``) the identity of volume
        ``volume_id`` (one ReconfigVM task); it leaves the index. A failure is logged: the
        backing is still found by name."""
        client = self._client
        try:
            VirtualMachine(client, ref).reconfigure(
                specs.identity_config(client, name=None, volume_id=volume_id))
        except errors.VSphereError as error:
            LOG.warning('Old in-tree backing %s (%s) of volume %s not marked, still found '
                        'by name: %s', name, ref, volume_id, error)
            return
        LOG.info('Old in-tree backing %s (%s) now carries the identity of volume %s', name,
                 ref, volume_id)
        with self._lock:
            self._by_name.pop(name, None)

    def old_backings(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Backings of old in-tree releases by name (one read of every VM), and the names
        several VMs carry (none of them is taken as the backing): moref values."""
        found: dict[str, list[str]] = {}
        for item in inventory.virtual_machines(self._client, [
                'name', 'config.instanceUuid', 'config.template']):
            name = item.get('name') or ''
            match = _BACKING_NAME.fullmatch(name)
            if match and not item.get('config.template') and \
                    item.get('config.instanceUuid') != match.group(1):
                found.setdefault(name, []).append(item.value)
        for name, refs in found.items():
            if len(refs) > 1:
                LOG.error('%d VMs are named %s (%s): none of them is taken as its backing',
                          len(refs), name, ', '.join(refs))
        LOG.info('%d backings of old in-tree releases (found by name only)', len(found))
        return ({name: refs[0] for name, refs in found.items() if len(refs) == 1},
                {name: refs for name, refs in found.items() if len(refs) > 1})

    def entity_at(self, inventory_path: str) -> str | None:
        """The moref value of the VM at ``inventory_path``, or None: one call."""
        return search_index.vm_at(self._client, inventory_path)

    def snapshot_named(self, backing: str, name: str) -> str | None:
        """The moref value of the VM snapshot ``name`` of ``backing``, or None: one call."""
        info = VirtualMachine(self._client, backing).read(['snapshot']).get('snapshot')
        named = [tree.snapshot.value for tree in properties.snapshot_trees(info)
                 if tree.name == name]
        if len(named) > 1:
            LOG.warning('Backing %s has %d snapshots named %s; using %s', backing,
                        len(named), name, named[0])
        return named[0] if named else None
