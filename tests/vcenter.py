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

"""The tests' own view of a driver's vCenter, never the driver's internals.

``of(driver)`` logs in to the vCenter the driver's configuration names (its own session,
made once per driver through public API) and offers what tests look at or do behind the
driver's back: the client, the inventory, a volume's backing, a backing described, planted,
snapshotted or deleted. This is the one place that knows how the product's pieces are put
together: a change of that wiring is fixed here, not in every test. ``endpoint_for`` is how
a test logs in to a simulator.
"""

import weakref

from vmdk_volume.core import backings, volume_type, wiring
from vmdk_volume.core.backend import Backend
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.vsphere import inventory as vinventory
from vmdk_volume.vsphere import session as vsession

_VIEWS: 'weakref.WeakKeyDictionary[object, VCenter]' = weakref.WeakKeyDictionary()


class VCenter:
    """A session to one backend's vCenter and the lookups tests make through it."""

    def __init__(self, backend: Backend):
        self._product = backend
        self.client = backend.client
        self.backend = backend      # the tests' own: inventory, placement, pools, policies
        self._services = wiring.wire(backend)
        self.backings = self._backings = self._services.backings

    def inventory(self, refresh: bool = False) -> vinventory.Inventory:
        """The vCenter's inventory (read again when asked or older than the product's
        cache keeps it)."""
        return self._product.inventory(refresh)

    def plant(self, volume_id: str, project_id: str, name: str | None = None,
              extra_config: dict[str, str] | None = None) -> str:
        """A 1 GiB backing made as the driver makes one, in the project's folder, for a
        volume Cinder need not know (named ``name`` and marked ``extra_config`` if given);
        its moref value."""
        return self._services.provisioner.create(backings.BackingRequest(
            volume_id=volume_id, name=name or 'volume-%s' % volume_id, size_bytes=1024 ** 3,
            profile=volume_type.parse({}), extra_config=extra_config or {}), project_id).ref

    def find(self, volume_id: str) -> str | None:
        """The moref value of the volume's backing, or None."""
        return self._backings.find(volume_id)

    def describe(self, ref: str) -> backings.Backing:
        """The backing ``ref`` as the driver describes it (disk, datacenter, snapshots)."""
        return self._backings.describe(ref)

    def delete(self, ref: str) -> bool:
        """Destroy a backing behind the driver's back; False if it was gone."""
        return self._backings.delete(ref)

    def snapshot(self, ref: str, name: str) -> str:
        """A VM snapshot of a backing taken behind the driver's back; its moref value."""
        return self._backings.snapshot(ref, name)


def of(driver) -> VCenter:
    """The view of ``driver``'s vCenter (one session per driver, kept while it lives; it ends
    with its simulator)."""
    view = _VIEWS.get(driver)
    if view is None:
        config = BackendConfig.from_options(driver.configuration)
        view = _VIEWS[driver] = VCenter(Backend.connect(config))
    return view


def endpoint_for(vc, **overrides) -> vsession.Endpoint:
    """An endpoint that logs in to the simulator ``vc`` with verified TLS."""
    params = dict(host=vc.host, port=vc.port, username='admin', password='secret',
                  ca_file=vc.ca_file, api_retry_count=2)
    params.update(overrides)
    return vsession.Endpoint(**params)


def associated_profiles(backend, key, object_type='virtualMachine'):
    """The policy ids the simulator's PBM reports for a VM ('vm-1') or disk ('vm-1:2000'),
    asked through the session's policy service (oslo.vmware's, set up by the backend's first
    policy lookup)."""
    service = backend.client.session.pbm
    entity = service.client.factory.create('ns0:PbmServerObjectRef')
    entity.objectType, entity.key = object_type, key
    entity.serverUuid = backend.client.content.about.instanceUuid
    found = backend.client.call('PbmQueryAssociatedProfile',
                                service.service_content.profileManager, service=service,
                                entity=entity) or []
    return [p.uniqueId for p in found]
