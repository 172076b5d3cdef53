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

"""Storage policies (SPBM): a policy's id by name, and the datastores compatible with it.

The policy service has its own endpoint (``/pbm``) and WSDL, which oslo.vmware ships; it shares
the vCenter session's cookie. Names resolve once per process (two calls), compatibility costs
one ``PbmQueryMatchingHub`` per placement of a volume whose type names a policy.
"""

import threading

from oslo_vmware import pbm

from vmdk_volume.vsphere import errors
from vmdk_volume.vsphere import session as vsession


class Policies:
    """Storage-policy lookups on one vCenter."""

    def __init__(self, client):
        self._client = client
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def _service(self):
        session = self._client.session
        if session.pbm is None:
            version = self._client.content.about.version
            session.pbm_wsdl_loc_set(pbm.get_pbm_wsdl_location(version))
            vsession.prepare(session.pbm)
        return session.pbm

    def _call(self, method: str, this, **kwargs):
        return self._client.call(method, this, service=self._service(), **kwargs)

    def profile_id(self, name: str) -> str:
        """The id of the storage policy ``name``; ``errors.NotFound`` naming it if none."""
        with self._lock:
            if name in self._ids:
                return self._ids[name]
        service = self._service()
        manager = service.service_content.profileManager
        kind = service.client.factory.create('ns0:PbmProfileResourceType')
        kind.resourceType = 'STORAGE'
        ids = self._call('PbmQueryProfile', manager, resourceType=kind) or []
        profiles = self._call('PbmRetrieveContent', manager, profileIds=ids) if ids else []
        found = {p.name: p.profileId.uniqueId for p in profiles}
        with self._lock:
            self._ids.update(found)
        if name not in found:
            raise errors.NotFound('NotFound', 'vCenter has no storage policy named %r (it has: '
                                  '%s)' % (name, ', '.join(sorted(found)) or 'none'))
        return found[name]

    def compatible(self, profile_id: str, datastores) -> frozenset[str]:
        """Which of ``datastores`` (moref values) satisfy the policy ``profile_id``."""
        if not datastores:
            return frozenset()
        factory = self._service().client.factory
        hubs = []
        for value in datastores:
            hub = factory.create('ns0:PbmPlacementHub')
            hub.hubType, hub.hubId = 'Datastore', value
            hubs.append(hub)
        profile = factory.create('ns0:PbmProfileId')
        profile.uniqueId = profile_id
        matching = self._call('PbmQueryMatchingHub',
                              self._service().service_content.placementSolver,
                              hubsToSearch=hubs, profile=profile) or []
        return frozenset(hub.hubId for hub in matching)
