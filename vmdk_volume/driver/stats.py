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

"""The driver's volume stats (a mixin of the driver class): one pool named after the
backend, or one per datastore (``vmware_pools``, ``core.pools``), with the capabilities
every pool reports."""

from cinder.common import constants
from oslo_log import log as logging

from vmdk_volume.core import retype
from vmdk_volume.driver import errors
from vmdk_volume.units import GiB
from vmdk_volume.vsphere import errors as verrors

LOG = logging.getLogger(__name__)
LOCATION_PREFIX = 'vmdk_volume:'      # location_info: 'vmdk_volume:<vCenter instanceUuid>'
SCOPE_CAPABILITY = 'vmdk_volume_scope'    # clusters, regex and folder, for migrations


class Stats:
    """get_volume_stats and what it reports."""

    @errors.translated
    def get_volume_stats(self, refresh=False):
        """Capacity and capabilities; while vCenter is unreachable, a report of the backend
        down, with no capacity (set-up is tried again first)."""
        if self._ready is None:
            try:
                self._set_up()
            except verrors.ConnectionFailed as error:
                return self._down_stats(error)
        if refresh or not self._stats:
            self._stats = {'volume_backend_name': self._backend_name, 'vendor_name': 'VMware',
                           'driver_version': self.VERSION,
                           'storage_protocol': constants.VMDK}
            if self._config.pool_per_datastore:
                self._stats['pools'] = self._pool_stats()
            else:
                [pool] = self._backend.pools(self._backend_name, refresh=True)
                self._stats.update(total_capacity_gb=pool.total // GiB,
                                   free_capacity_gb=pool.free // GiB,
                                   **self._capabilities())
        return self._stats

    def _pool_stats(self) -> list[dict]:
        """One entry per datastore pool; a pool that is down reports no total nor free space
        (Cinder's CapacityFilter rejects a pool without total for any volume; with thin
        provisioning it ignores free space), and why it is down is logged when it goes down
        (not at every report)."""
        reported = []
        for pool in self._backend.pools(refresh=True):
            if pool.down != self._pools_down.get(pool.name):
                if pool.down:
                    LOG.warning('Pool %s takes no new volume: %s', pool.name, pool.down)
                elif pool.name in self._pools_down:
                    LOG.info('Pool %s takes new volumes again', pool.name)
            self._pools_down[pool.name] = pool.down
            reported.append({
                'pool_name': pool.name,
                'total_capacity_gb': 0 if pool.down else pool.total // GiB,
                'free_capacity_gb': 0 if pool.down else pool.free // GiB,
                'provisioned_capacity_gb': pool.provisioned // GiB,
                'backend_state': 'down' if pool.down else 'up', **self._capabilities()})
        return reported

    def _capabilities(self) -> dict:
        """What every pool reports beside its capacity."""
        return {
            'reserved_percentage': self.configuration.reserved_percentage,
            'thin_provisioning_support': True,
            'thick_provisioning_support': True,
            'max_over_subscription_ratio':
                self.configuration.max_over_subscription_ratio,
            'multiattach': False,
            'online_extend_support': True,
            'shared_targets': False,
            'location_info': self._location_info(),
            SCOPE_CAPABILITY: retype.Scope(
                clusters=self._config.clusters,
                datastore_regex=getattr(self._config.datastore_regex, 'pattern',
                                        None),
                volume_folder=self._config.volume_folder).as_capability(),
        }

    def _location_info(self) -> str:
        return LOCATION_PREFIX + self._backend.vcenter_uuid
