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

"""The driver's set-up: options, crash debris in vmware_tmp_dir, and the connection to
vCenter, which may come later than the set-up itself.

Cinder calls ``do_setup`` once; if it raises, the volume manager never calls the driver again
(no stats, no operations: a restart is needed) and its create_volume fails with KeyError:
'pools'. So a vCenter that cannot be reached (one login attempt, bounded in time) does not
fail the set-up: the backend reports itself down (``backend_state``, no capacity) and
connects at the next stats refresh (Cinder's periodic task) or operation once vCenter
answers; operations meanwhile fail with a Cinder error naming the cause, trying to connect
at most once per ``SETUP_RETRY_S``. Wrong options, credentials or certificates fail the
set-up at once.
"""

import threading
import time

from cinder import coordination, exception
from cinder.common import constants
from cinder.image import image_utils
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import units

from vmdk_volume.core import backend as vbackend
from vmdk_volume.core import backings as vbackings
from vmdk_volume.core import intree, manage, provisioning, retype, wiring
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images import formats, source
from vmdk_volume.core.images import service as vimages
from vmdk_volume.driver import errors
from vmdk_volume.i18n import _
from vmdk_volume.vsphere import errors as vsphere_errors
from vmdk_volume.vsphere import policies

LOG = logging.getLogger(__name__)
SETUP_LOGIN_ATTEMPTS = 1    # set-up, and each retry while vCenter is down
SETUP_RETRY_S = 10          # operations meanwhile fail at once, but try once per interval


def image_rules() -> formats.ImageRules:
    """What Cinder's image options allow (read as Cinder's image_utils reads them)."""
    conf = image_utils.CONF
    return formats.ImageRules(
        vmdk_types=tuple(conf.vmdk_allowed_types),
        introspection=processutils.ProcessLimits(
            cpu_time=conf.image_introspection_cpu_limit,
            address_space=conf.image_introspection_address_space_limit * units.Gi))


class SetUp:
    """The driver's set-up and connection (a mixin of ``VMwareVcVmdkDriver``)."""

    _config: BackendConfig | None
    _ready: wiring.Services | None
    _setup_lock: threading.Lock
    _down: tuple[float, Exception] | None

    @errors.translated
    def do_setup(self, context):
        """Check the options, remove what a killed process left in vmware_tmp_dir and
        connect; an unreachable vCenter leaves the backend down (see the module
        docstring)."""
        self._config = BackendConfig.from_options(self.configuration)
        source.remove_stale_spools(self._config.tmp_dir)
        try:
            self._set_up()
        except vsphere_errors.ConnectionFailed as error:
            if isinstance(error, vsphere_errors.CertificateNotTrusted):
                raise
            LOG.error('Backend %s is down until vCenter answers (it will keep trying at '
                      'each stats refresh and operation): %s', self._backend_name, error)

    def check_for_setup_error(self):
        """do_setup checked the options, and the connection, version and clusters unless
        vCenter was unreachable (then the backend reports itself down)."""

    def _set_up(self, retry_after_s: float = 0) -> wiring.Services:
        """The connected backend's services, connecting and wiring them now if not yet (not
        within ``retry_after_s`` of a failed attempt: its failure is raised again)."""
        with self._setup_lock:
            if self._ready is not None:
                return self._ready
            if self._down and time.monotonic() - self._down[0] < retry_after_s:
                raise self._down[1]
            try:
                backend = vbackend.Backend.connect(self._config, attempts=SETUP_LOGIN_ATTEMPTS)
                with backend.closed_on_failure():
                    backend.register_extension()
                    backend.watch_tasks()
            except vsphere_errors.ConnectionFailed as error:
                self._down = (time.monotonic(), error)
                raise
            self._ready = wiring.wire(backend, coordination.COORDINATOR.get_lock,
                                      image_rules())
            self._down = None
        LOG.info('Backend %s uses vCenter %s', self._backend_name,
                 self._config.endpoint.address)
        return self._ready

    # The collaborators the driver's operations use, as the set-up wired them.
    @property
    def _backend(self) -> vbackend.Backend:
        return self._connected().backend

    @property
    def _backings(self) -> vbackings.Backings:
        return self._connected().backings

    @property
    def _provisioner(self) -> provisioning.Provisioner:
        return self._connected().provisioner

    @property
    def _mover(self) -> retype.Mover:
        return self._connected().mover

    @property
    def _manager(self) -> manage.Manager:
        return self._connected().manager

    @property
    def _policies(self) -> policies.Policies:
        return self._connected().policies

    @property
    def _images(self) -> vimages.Images:
        return self._connected().images

    @property
    def _intree(self) -> intree.InTree:
        return self._connected().intree

    def _connected(self) -> wiring.Services:
        """What operations use: set up now if vCenter was unreachable so far; while it
        still is, a Cinder error saying so."""
        if self._ready is not None:
            return self._ready
        try:
            return self._set_up(retry_after_s=SETUP_RETRY_S)
        except vsphere_errors.ConnectionFailed as error:
            raise exception.VolumeBackendAPIException(
                data=_('backend %s is down: %s') % (self._backend_name, error)) from error

    def _down_stats(self, error: Exception) -> dict:
        return {'volume_backend_name': self._backend_name, 'vendor_name': 'VMware',
                'driver_version': self.VERSION, 'storage_protocol': constants.VMDK,
                'total_capacity_gb': 0, 'free_capacity_gb': 0,
                'reserved_percentage': self.configuration.reserved_percentage,
                'backend_state': 'down', 'backend_state_reason': str(error)}
