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

"""The inventory kept current by a property collector of the driver's own, never re-read.

The first ``refresh`` makes a collector (CreatePropertyCollector) and one filter on what
``inventory.filter_spec`` names (CreateFilter), and reads the whole inventory as its first
update set (WaitForUpdatesEx from version ""): three calls. Each later ``refresh`` is one
WaitForUpdatesEx with ``maxWaitSeconds`` 0: vCenter answers at once with what changed since
the version last seen (nothing: no update set), and only the objects that entered, changed
or left are applied to the inventory given, so a refresh with nothing changed costs the
same at any size. Replies are read as plain values (``update_sets``), not by suds.

A collector belongs to its session: once the session was renewed (the key changed, or the
collector is not found), or vCenter refuses the version (InvalidCollectorVersion), the watch
starts over with a new collector and a full read. ``close`` destroys the collector.
"""

import dataclasses

from oslo_log import log as logging

from vmdk_volume.vsphere import errors, inventory, update_sets

LOG = logging.getLogger(__name__)
WAIT = 'WaitForUpdatesEx'


class InventoryWatch:
    """One vCenter's inventory, brought up to date on each ``refresh`` (see the module
    docstring). Not thread-safe: its owner serialises refreshes."""

    def __init__(self, client):
        self._client = client
        self._collector = None
        self._session_key = None
        self._version = ''
        self._datastores_of: dict[str, tuple[str, ...]] = {}   # datacenter -> datastores

    def refresh(self, current: inventory.Inventory | None = None) -> inventory.Inventory:
        """``current`` with what changed in vCenter since the last refresh applied (one
        call), or the whole inventory read afresh if there is no ``current`` or the watch
        must start over (three calls)."""
        if current is None or self._collector is None \
                or self._session_key != self._client.session.key:
            return self._start()
        try:
            updates = self._wait(self._collector, self._version)
        except errors.NotFound:
            LOG.info('The inventory collector is gone with its session: reading the '
                     'inventory afresh')
            self._collector = None
            return self._start()
        except errors.Fault as fault:
            if fault.name != 'InvalidCollectorVersion':
                raise
            LOG.warning('vCenter %s refused the inventory version %r: reading the inventory '
                        'afresh', self._client.session.endpoint.address, self._version)
            return self._start()
        return self._apply(current, updates)

    def close(self) -> None:
        """Destroy the collector (and its filter), if it is the current session's."""
        collector, self._collector = self._collector, None
        if collector is not None and self._session_key == self._client.session.key:
            try:
                self._client.call('DestroyPropertyCollector', collector)
            except errors.VSphereError as error:    # the session's end drops it too
                LOG.info('The inventory collector was not destroyed: %s', error)

    def _start(self) -> inventory.Inventory:
        self.close()
        client, key = self._client, self._client.session.key
        collector = client.call('CreatePropertyCollector', client.content.propertyCollector)
        try:
            client.call('CreateFilter', collector, spec=inventory.filter_spec(client),
                        partialUpdates=False)
            self._datastores_of = {}
            updates = self._wait(collector, '')
        except BaseException:
            self._collector, self._session_key = collector, key
            self.close()
            raise
        self._collector, self._session_key = collector, key
        return self._apply(inventory.EMPTY, updates)

    def _wait(self, collector, version: str) -> list[update_sets.UpdateSet]:
        """The update sets since ``version`` (all of them if vCenter truncated the first),
        the version of the last kept."""
        found = []
        while True:
            with update_sets.raw_reply(WAIT, collector.value) as slot:
                self._client.call(WAIT, collector, version=version, options=self._client.create(
                    'WaitOptions', maxWaitSeconds=0))
            updates = update_sets.update_set(slot.reply) if slot.reply is not None else None
            if updates is None:
                break
            found.append(updates)
            version = updates.version
            if not updates.truncated:
                break
        self._version = version
        return found

    def _apply(self, current: inventory.Inventory,
               updates: list[update_sets.UpdateSet]) -> inventory.Inventory:
        """``current`` with the objects that entered, changed or left applied."""
        fields: dict[str, dict] = {}
        for update in (u for found in updates for u in found.objects):
            kind = inventory.kind_of(update.type)
            if kind not in inventory.KINDS:
                continue
            name = inventory.KINDS[kind][0]
            values = fields.setdefault(name, dict(getattr(current, name)))
            if update.kind == 'leave':
                values.pop(update.ref, None)
                self._datastores_of.pop(update.ref, None)
                continue
            if kind == 'Datacenter' and inventory.DATASTORES in update.changes:
                self._datastores_of[update.ref] = tuple(
                    update.changes[inventory.DATASTORES] or ())
                fields.setdefault('datastores', dict(current.datastores))
            old = values.get(update.ref)
            values[update.ref] = (inventory.changed(old, update.type, update.changes)
                                  if update.kind == 'modify' and old is not None
                                  else inventory.entered(update.type, update.ref,
                                                         update.changes))
        if 'datastores' in fields:
            self._place_datastores(fields['datastores'])
        return dataclasses.replace(current, **fields) if fields else current

    def _place_datastores(self, datastores: dict) -> None:
        """Give each datastore the datacenter that lists it."""
        datacenter_of = {ds: dc for dc, stores in self._datastores_of.items() for ds in stores}
        for ref, store in datastores.items():
            if store.datacenter != datacenter_of.get(ref, ''):
                datastores[ref] = dataclasses.replace(store, datacenter=datacenter_of.get(ref, ''))
