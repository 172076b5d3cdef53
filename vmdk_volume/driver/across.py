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

"""Migration to a backend of another vCenter (``core.across`` streams the disk).

Cinder's ``enabled_backends`` runs one child per backend section, each loading the whole
cinder.conf: the target is served by this cinder-volume when the target host's node is this
one's and its section is enabled here, runs this driver and reports the backend name the
target's capabilities carry; its vCenter must be the one its ``location_info`` names. That
section's options open the target vCenter for the move, logged out afterwards. Otherwise
the driver declines and says why Cinder's generic copy will fail (``OS_BRICK_DEAD_END``).
"""

import contextlib
from collections.abc import Iterator

from cinder import coordination, exception
from cinder.volume import configuration, driver, volume_utils
from oslo_config import cfg
from oslo_log import log as logging

from vmdk_volume.core import across, wiring
from vmdk_volume.core import backend as vbackend
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import transfer
from vmdk_volume.driver import options
from vmdk_volume.driver.stats import LOCATION_PREFIX
from vmdk_volume.i18n import _

LOG = logging.getLogger(__name__)
DRIVER = 'vmdk_volume.driver.VMwareVcVmdkDriver'
OS_BRICK_DEAD_END = (
    "Cinder's generic copy that follows attaches both volumes with os-brick's "
    "VmdkConnector, whose check_valid_device (os-brick 7.1.1) opens the downloaded VMDK in "
    "text mode, \"with open(path, 'r') as dev: dev.read(1)\", and fails with "
    'UnicodeDecodeError on its binary header: configure both backends in one cinder-volume '
    'to move volumes between vCenters')


class Across:
    """Driver-assisted migration between vCenters (a mixin of ``VMwareVcVmdkDriver``)."""

    def _migrate_across(self, volume, host) -> tuple[bool, dict | None]:
        """Move the volume to the other vCenter's backend ``host`` names, if this process
        serves it; else (False, None), logged with why."""
        section = self._served_section(host)
        if section is None:
            return False, None
        if volume.snapshots:
            raise exception.InvalidVolume(
                reason=_('volume %s has %d snapshot(s) on vCenter %s, which cannot follow it '
                         'to another vCenter: delete them first') % (
                             volume.id, len(volume.snapshots), self._config.endpoint.host))
        backing = self._backing(volume)
        if backing is None:
            LOG.info('Volume %s has no backing: it moves to %s with nothing to copy',
                     volume.id, host['host'])
            return True, {'provider_location': None}
        expected = host['capabilities']['location_info'][len(LOCATION_PREFIX):]
        with _target(section, expected) as target:
            chosen = _chosen_pool(target.backend.config, host)
            try:
                landed = across.move(
                    across.Side.of(self._connected()), across.Side.of(target), backing,
                    self._backing_request(volume), volume.project_id, chosen)
            except (across.MoveFailed, transfer.TransferFailed) as error:
                raise exception.VolumeMigrationFailed(reason=str(error)) from error
            update = {'provider_location': landed.ref}
            if chosen and (pool := target.backend.pool_name(landed.datastore)) != chosen:
                LOG.info('Volume %s landed in pool %s, not %s', volume.id, pool, chosen)
                update['host'] = volume_utils.append_host(
                    volume_utils.extract_host(host['host']), pool)
        return True, update

    def _served_section(self, host) -> str | None:
        """The section of the backend of another vCenter ``host`` names if this process
        serves it, else None (logged why)."""
        capabilities = host.get('capabilities') or {}
        location = capabilities.get('location_info') or ''
        name = volume_utils.extract_host(host['host'], 'backend')
        node, _, section = name.partition('@')
        why = None
        if not location.startswith(LOCATION_PREFIX):
            why = 'it is not a backend of this driver'
        elif not self._of_this_service(node, host.get('cluster_name')):
            why = 'it is served by the cinder-volume of %s, not of this host or cluster' % node
        elif section not in cfg.CONF.enabled_backends:
            why = 'section [%s] is not in this cinder-volume\'s enabled_backends' % section
        else:
            conf = _section(section)
            served = (conf.volume_driver, conf.volume_backend_name or 'vmdk')
            if served != (DRIVER, capabilities.get('volume_backend_name')):
                why = ('section [%s] runs %s as backend %s, not this driver as %s'
                       % (section, *served, capabilities.get('volume_backend_name')))
        if why is None:
            return section
        LOG.warning('Volume migration to %s: %s, so this driver cannot move the disk between '
                    'vCenters. %s', host['host'], why, OS_BRICK_DEAD_END)
        return None


    def _of_this_service(self, node: str, cluster_name: str | None) -> bool:
        """Whether the target's ``node`` is this host, or its cluster this cinder-volume's
        (``[DEFAULT] cluster``: then this process serves the target's section too, if it
        is in its ``enabled_backends``, as every node of that cluster does)."""
        if node == volume_utils.extract_host(self.host, 'host'):
            return True
        return bool(cluster_name and self.cluster_name) and (
            volume_utils.extract_host(cluster_name, 'host') ==
            volume_utils.extract_host(self.cluster_name, 'host'))


def _chosen_pool(target: BackendConfig, host) -> str | None:
    """The pool the scheduler chose, if the target reports one per datastore."""
    if not target.pool_per_datastore:
        return None
    return volume_utils.extract_host(host['host'], 'pool')


def _section(name: str) -> configuration.Configuration:
    """The options of backend section ``name`` of this process's cinder.conf."""
    from cinder.volume import manager  # the volume_driver option; loaded by now
    conf = configuration.Configuration(manager.volume_backend_opts, config_group=name)
    for opts in (driver.volume_opts, options.vmdk_opts):
        conf.append_config_values(opts)
    return conf


@contextlib.contextmanager
def _target(section: str, vcenter_uuid: str) -> Iterator[wiring.Services]:
    """The services of the vCenter of backend section ``section``, checked to be
    ``vcenter_uuid``, logged out afterwards."""
    target = vbackend.Backend.connect(BackendConfig.from_options(_section(section)))
    try:
        if target.vcenter_uuid != vcenter_uuid:
            raise exception.VolumeMigrationFailed(
                reason=_('section [%s] reaches vCenter %s, not %s which the target backend '
                         'reports') % (section, target.vcenter_uuid, vcenter_uuid))
        yield wiring.wire(target, coordination.COORDINATOR.get_lock)
    finally:
        target.close()
