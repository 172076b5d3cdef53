"""What Cinder's in-tree VMDK driver left on vCenter, found the way it recorded it.

Its template snapshots are recorded by inventory path (found with one FindByInventoryPath
call); its COW snapshots are VM snapshots of the volume's backing named after the Cinder
snapshot (one read of the backing's snapshot tree). See docs/UPSTREAM.md.
"""

import logging

from vmdk_volume.vsphere import properties

LOG = logging.getLogger(__name__)


class InTree:
    """Lookups of in-tree objects on one vCenter client."""

    def __init__(self, client):
        self._client = client

    def entity_at(self, inventory_path: str) -> str | None:
        """The moref value of the VM at ``inventory_path``, or None: one call."""
        client = self._client
        found = client.call('FindByInventoryPath', client.content.searchIndex,
                            inventoryPath=inventory_path)
        if found is None or found._type != 'VirtualMachine':
            return None
        return found.value

    def snapshot_named(self, backing: str, name: str) -> str | None:
        """The moref value of the VM snapshot ``name`` of ``backing``, or None: one call."""
        client = self._client
        info = properties.fetch_one(client, client.ref('VirtualMachine', backing),
                                    ['snapshot']).get('snapshot')
        named = [tree.snapshot.value for tree in properties.snapshot_trees(info)
                 if tree.name == name]
        if len(named) > 1:
            LOG.warning('Backing %s has %d snapshots named %s; using %s', backing,
                        len(named), name, named[0])
        return named[0] if named else None
