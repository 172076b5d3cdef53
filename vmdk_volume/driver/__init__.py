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

"""The Cinder adapter: Cinder's volume driver interface mapped onto a ``Backend``.

This package is the only part of the driver that imports Cinder. It turns Cinder objects into
the core's typed requests and the core's exceptions into ``cinder.exception`` (``errors``);
what happens on vCenter lives in the core (``vmdk_volume.core``: ``backend``, ``wiring``,
``provisioning``, ``backings``, ``placement``, ``images``) and ``vmdk_volume.vsphere``.
Set-up (``setup``), clones and snapshots (``copies``), manage/unmanage (``managing``), images
(``imaging``), the volume stats (``stats``), migration to another vCenter (``across``) and the
lookups turning a recorded moref into a checked object (``lookup``) are mixins of the one
driver class defined here.
"""

import threading

from cinder import coordination, exception, interface
from cinder.common import constants
from cinder.volume import driver, volume_utils
from oslo_log import log as logging
from oslo_utils import timeutils

from vmdk_volume import DRIVER_VERSION
from vmdk_volume.core import backings as vbackings
from vmdk_volume.core import locks as vlocks
from vmdk_volume.core import retype, volume_type, wiring
from vmdk_volume.core.backings import BackingRequest
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.driver import (
    copies,
    errors,
    imaging,
    locations,
    lookup,
    managing,
    options,
    setup,
    stats,
)
from vmdk_volume.driver.across import Across
from vmdk_volume.driver.stats import SCOPE_CAPABILITY
from vmdk_volume.i18n import _
from vmdk_volume.units import GiB

LOG = logging.getLogger(__name__)


def _attached_instance(volume) -> str | None:
    """The moref value of the VM that has the volume attached (Nova's vmwareapi connector
    names it), or None if it is not attached to a VM."""
    for attachment in volume.volume_attachment or ():
        if attachment.attach_status == 'attached':
            instance = (attachment.connector or {}).get('instance')
            if instance is None:
                raise exception.InvalidVolume(
                    reason=_('volume %s is attached, but its attachment names no vCenter VM '
                             '(connector without "instance"): detach it to extend it')
                    % volume.id)
            return instance
    return None


def _in_use_by(volume) -> str | None:
    """What has the volume attached (the instance's moref value, or the attachment's host
    for an attachment outside an instance), or None."""
    for attachment in volume.volume_attachment or ():
        if attachment.attach_status == 'attached':
            connector = attachment.connector or {}
            return connector.get('instance') or connector.get('host') or attachment.id
    return None


@interface.volumedriver
class VMwareVcVmdkDriver(setup.SetUp, lookup.Lookup, copies.Copies, managing.Managing,
                         imaging.Imaging, stats.Stats, Across, driver.VolumeDriver):
    """Volumes as VMDK files on vCenter datastores, attached to Nova's VMware instances."""

    VERSION = DRIVER_VERSION
    CI_WIKI_NAME = 'VMware_vmdk_volume_CI'    # our own CI, not the in-tree driver's VMware_CI
    # Every critical section shared with other cinder-volume processes (a volume's first
    # backing, folders, image cache fills) takes a lock from Cinder's coordination.
    SUPPORTS_ACTIVE_ACTIVE = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(options.vmdk_opts)
        self._config: BackendConfig | None = None
        self._ready: wiring.Services | None = None
        self._setup_lock = threading.Lock()
        self._down: tuple[float, Exception] | None = None   # when and why set-up failed
        self._started_at = timeutils.utcnow()   # volumes made before may be the in-tree driver's
        self._stats: dict = {}
        self._pools_down: dict[str, str | None] = {}   # pool -> why it was down (``stats``)
        self._exported: dict[str, str] = {}  # volume id -> backing create_export just found

    @staticmethod
    def get_driver_options():
        return options.vmdk_opts

    # -- set-up (``setup``) and the backend's name ------------------------------------------

    @property
    def _backend_name(self) -> str:
        return self.configuration.safe_get('volume_backend_name') or 'vmdk'

    # -- volumes ---------------------------------------------------------------------------

    @errors.translated
    @errors.created
    def create_volume(self, volume):
        """Check the volume type; the backing waits for the first attach (lazy create). The
        volume records no backing then: a row Cinder copied from another volume (generic
        migration) loses the other backend's moref."""
        profile = self._profile(volume)
        self._backend.check_profile(profile)
        if self._config.lazy_create:
            return {'provider_location': None}
        return self._create_backing(volume, profile)

    @errors.translated
    def delete_volume(self, volume):
        """Destroy the backing if there is one: the recorded VM if it carries the volume's
        identity (checked first), else the one found by identity; a VM that does not is
        never destroyed."""
        backings = self._backings
        identity = vbackings.volume_identity(volume.name_id)
        recorded = locations.volume_backing(volume)
        if recorded and backings.delete(recorded, identity):
            return
        ref = backings.find(volume.name_id) or self._old_intree_backing(volume)
        if ref is not None:
            backings.delete(ref)

    @classmethod
    def clean_volume_file_locks(cls, volume_id):
        """Remove the volume's backing lock, which Cinder's file coordination backend keeps
        as a file per name (Cinder calls this once the volume is gone)."""
        coordination.synchronized_remove(vlocks.name('backing', volume_id))

    @errors.translated
    def extend_volume(self, volume, new_size):
        """Grow the disk with one task: offline, or through the instance that has the
        volume attached (online); a volume without backing only changes its size."""
        instance = _attached_instance(volume)
        if instance is None:
            backing = self._backing(volume)
            if backing is not None:
                self._provisioner.extend(backing.ref, new_size * GiB, backing)
        else:
            self._act(volume, lambda ref, identity: self._backings.extend_attached(
                ref, instance, new_size * GiB, identity))

    # -- ownership -------------------------------------------------------------------------

    @errors.translated
    def accept_transfer(self, context, volume, new_user, new_project):
        """File the backing under the new project's folder."""
        backing = self._backing(volume)
        if backing is not None:
            self._provisioner.move_to_project(backing.ref, new_project, backing=backing)

    # -- retype and migration --------------------------------------------------------------

    @errors.translated
    def retype(self, context, volume, new_type, diff, host):
        """Change the backing in place, the cheapest way (see ``retype``); False when that
        cannot be done here, so Cinder migrates instead. While an instance has the volume
        attached only changes that leave its disk where it is are made (see
        ``retype_plan.check_attached``); Cinder's migration of an attached volume asks Nova
        to swap it."""
        profile = volume_type.parse(new_type.get('extra_specs') or {},
                                    self._config.default_adapter)
        self._backend.check_profile(profile)
        if not self._is_this_backend(host):
            return False
        backing = self._backing(volume)
        if backing is None:
            return True     # lazy: the backing will be made with the new type
        instance = lookup.holding_instance(volume)
        if instance is None and 'in-use' in (volume.status, volume.previous_status):
            LOG.info('Volume %s is attached outside an instance: its backing cannot change '
                     'in place', volume.id)
            return False
        request = self._backing_request(volume, profile)
        try:
            ref = self._mover.retype(backing.ref, request, self._profile(volume).storage_policy,
                                     volume.project_id, backing, holder=instance)
        except retype.Impossible as reason:
            LOG.info('Volume %s cannot be retyped in place: %s', volume.id, reason)
            return False
        return True, {'provider_location': ref}

    def _is_this_backend(self, host: dict) -> bool:
        """Whether the scheduler's ``host`` is this backend: this service, or (active-active)
        its cluster, whichever node of it the scheduler named, as Cinder's manager decides."""
        if self.cluster_name and host.get('cluster_name'):
            return volume_utils.hosts_are_equivalent(self.cluster_name, host['cluster_name'])
        return volume_utils.hosts_are_equivalent(self.host, host['host'])

    @errors.translated
    def migrate_volume(self, context, volume, host):
        """Within one vCenter: move the backing where the target backend may keep it; to
        another vCenter's backend that this process serves: stream its disk there
        (``across``)."""
        capabilities = host.get('capabilities') or {}
        if capabilities.get('location_info') != self._location_info():
            return self._migrate_across(volume, host)
        backing = self._backing(volume)
        if backing is not None:
            scope = retype.Scope.from_capability(capabilities.get(SCOPE_CAPABILITY) or {})
            try:
                self._mover.migrate(backing.ref, volume.size * GiB,
                                    self._profile(volume).storage_policy, scope,
                                    volume.project_id, backing)
            except retype.Impossible as reason:
                LOG.info('Volume %s cannot move to %s: %s', volume.id, host['host'], reason)
                return False, None
        return True, None

    def update_migrated_volume(self, ctxt, volume, new_volume, original_volume_status):
        """After a generic migration the volume keeps the new volume's backing, which
        carries the new volume's id: the volume points at it through ``_name_id`` (every
        lookup uses ``name_id``), so nothing on vCenter is renamed and the old backing,
        deleted next under the temporary volume's row, is never confused with it."""
        return {'_name_id': new_volume.name_id,
                'provider_location': new_volume.provider_location}

    def _backing_request(self, volume, profile=None) -> BackingRequest:
        """What the volume's backing must be (after a generic migration it carries the id of
        the volume that made it, ``name_id``)."""
        return BackingRequest(volume_id=volume.name_id, name=volume.name,
                              size_bytes=volume.size * GiB,
                              profile=profile or self._profile(volume))

    # -- attach ----------------------------------------------------------------------------

    @errors.translated
    def create_export(self, context, volume, connector):
        """Make sure the volume has a backing the connector's instance can reach."""
        ref, datastore = self._ensure_backing(volume, connector)
        self._exported[volume.id] = ref     # found by identity: initialize_connection's
        update = self._pool_update(volume, datastore)
        if ref != volume.provider_location:
            update['provider_location'] = ref
        return update or None

    def ensure_export(self, context, volume):
        pass

    def remove_export(self, context, volume):
        pass

    def validate_connector(self, connector):
        """A dict whose ``instance``, if given, is a VM moref value (Nova's vmwareapi);
        os-brick's connector (``platform``, ``os_type``) has none."""
        if not isinstance(connector, dict):
            raise exception.InvalidConnectorException(
                missing=_('the connector must be a dict, not %s') % type(connector).__name__)
        instance = connector.get('instance', 'vm')
        if not (isinstance(instance, str) and instance.strip()):
            raise exception.InvalidConnectorException(
                missing=_("'instance' must be the moref value of the instance VM (e.g. vm-42), "
                          'not %r') % (instance,))

    @errors.translated
    def initialize_connection(self, volume, connector):
        """Connection info for Nova's vmwareapi and, if asked, os-brick's VMDK connector."""
        brick = 'platform' in connector and 'os_type' in connector
        backing = self._attached_backing(volume, connector, describe=brick)
        ref = getattr(backing, 'ref', backing)
        policy = self._profile(volume).storage_policy
        data = {'volume': ref, 'volume_id': volume.id, 'name': volume.name,
                'profile_id': self._policies.profile_id(policy) if policy else None}
        if brick:
            data.update(self._os_brick_data(volume, backing))
        return {'driver_volume_type': constants.VMDK, 'data': data}

    def terminate_connection(self, volume, connector, force=False, **kwargs):
        pass

    def _ensure_backing(self, volume, connector):
        """The volume's backing, created if missing (in the volume's pool if it fits), on a
        datastore the instance's host uses (moved there if it is elsewhere); one backing
        across the cluster. Its moref value, and its datastore's (None: not known)."""
        old = self._old_intree_backing(volume, claim=True)     # reached as it is
        if old:
            instance = (connector or {}).get('instance')
            datastore = None
            if instance:
                datastore = self._provisioner.make_reachable(old, volume.size * GiB, instance,
                                                             _in_use_by(volume))
            return old, datastore
        return self._provisioner.ensure(self._backing_request(volume), volume.project_id,
                                        (connector or {}).get('instance'),
                                        in_use_by=_in_use_by(volume), pool=self._pool_of(volume))

    def _pool_of(self, volume) -> str | None:
        """The pool the scheduler chose for the volume, with per-datastore pools."""
        if not self._config.pool_per_datastore:
            return None
        return volume_utils.extract_host(volume.host, 'pool')

    def _pool_update(self, volume, datastore: str | None) -> dict:
        """A model update moving the volume to the pool of the ``datastore`` (moref value)
        holding its backing if that is not the volume's pool (the backing went elsewhere, or
        was made before the backend reported datastore pools): Cinder's host for the volume
        then names the datastore holding it."""
        if datastore is None or not self._config.pool_per_datastore:
            return {}
        pool = self._backend.pool_name(datastore)
        if pool == volume_utils.extract_host(volume.host, 'pool'):
            return {}
        LOG.info('Volume %s is in pool %s, not %s', volume.id, pool, volume.host)
        return {'host': volume_utils.append_host(volume_utils.extract_host(volume.host), pool)}

    def _create_backing(self, volume, profile) -> dict:
        """The model update of a backing made now (lazy create off), in the volume's pool
        if it fits."""
        ref, where = self._provisioner.create(self._backing_request(volume, profile),
                                              volume.project_id, pool=self._pool_of(volume))
        return {'provider_location': ref, **self._pool_update(volume, where.datastore.ref)}

    def _os_brick_data(self, volume, backing: vbackings.Backing) -> dict:
        datastore = self._backend.inventory().datastores.get(backing.datastore)
        return {'vmdk_size': volume.size * GiB, 'vmdk_path': backing.vmdk_path,
                'datastore': backing.datastore,
                'datacenter': datastore.datacenter if datastore else None,
                'config': options.connector_config(self.configuration)}

    def _profile(self, volume) -> volume_type.VolumeProfile:
        specs = volume.volume_type.extra_specs if volume.volume_type else {}
        return volume_type.parse(specs, self._config.default_adapter)
