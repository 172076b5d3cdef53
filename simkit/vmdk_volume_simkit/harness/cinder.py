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

"""Cinder's own VolumeManager, in-process, loading our driver from a cinder.conf with one
backend section per simulated vCenter: for ``vmdk-volume demo`` and the Cinder tests.

sqlite in a temporary directory, the fake messaging transport, file-based coordination:
the same code path as a cinder-volume service, without the service around it. Glance is
replaced by ``LocalImages``, a directory of image files, wherever Cinder asks for it.
"""

import pathlib
import textwrap

from vmdk_volume_simkit import Simulator
from vmdk_volume_simkit.harness.glance import LocalImages

PROJECT_ID = 'f2d4a3b0c1d24f6e8a7b9c0d1e2f3a4b'
USER_ID = 'u-0001'


def write_cinder_conf(workdir: pathlib.Path, simulators: dict[str, Simulator],
                      options: dict[str, dict[str, str]],
                      database: pathlib.Path | None = None) -> pathlib.Path:
    """A cinder.conf whose backend sections each point at one simulator, with ``options``
    added per section (a later ``volume_driver`` wins), and ``database`` (default: cinder.db
    in ``workdir``)."""
    sections = ''.join(textwrap.dedent('''
        [{name}]
        volume_driver = vmdk_volume.driver.VMwareVcVmdkDriver
        volume_backend_name = {name}
        vmware_host_ip = {vc.host}
        vmware_host_port = {vc.port}
        vmware_host_username = admin
        vmware_host_password = secret-{name}
        vmware_ca_file = {vc.ca_file}
        vmware_volume_folder = Volumes
        ''').format(name=name, vc=vc) + ''.join(
            '%s = %s\n' % item for item in options.get(name, {}).items())
        for name, vc in simulators.items())
    conf = workdir / 'cinder.conf'
    conf.write_text(textwrap.dedent('''
        [DEFAULT]
        transport_url = fake:/
        enabled_backends = {backends}
        state_path = {workdir}
        reinit_driver_count = 0
        [database]
        connection = sqlite:///{database}
        [oslo_concurrency]
        lock_path = {workdir}/locks
        [coordination]
        backend_url = file://{workdir}/coordination
        ''').format(backends=','.join(simulators), workdir=workdir,
                    database=database or workdir / 'cinder.db') + sections)
    return conf


class Cinder:
    """A configured Cinder with one VolumeManager per backend section."""

    def __init__(self, workdir: pathlib.Path, simulators: dict[str, Simulator],
                 options: dict[str, dict[str, str]], database: pathlib.Path | None = None):
        from cinder import objects
        objects.register_all()     # before cinder.volume.manager is imported
        from cinder import context, coordination, privsep, rpc
        from cinder.common import config  # noqa: F401 - registers the options
        from cinder.db import migration
        from cinder.image import glance
        from oslo_config import cfg

        self.conf_file = write_cinder_conf(workdir, simulators, options, database)
        self.database = database or workdir / 'cinder.db'
        cfg.CONF(['--config-file', str(self.conf_file)], project='cinder')
        migration.db_sync()
        rpc.init(cfg.CONF)
        coordination.COORDINATOR.start()
        self.images = LocalImages(workdir / 'images')
        glance.get_default_image_service = lambda: self.images
        glance.get_remote_image_service = lambda context, href: (self.images, href)
        # Cinder's create flow inspects images through privsep: run it in this process.
        privsep.sys_admin_pctxt.set_client_mode(False)
        self.context = context.RequestContext(USER_ID, PROJECT_ID, is_admin=True)
        self.managers = {name: self.start_manager(name) for name in simulators}

    def start_manager(self, name: str, node: str = 'cinder', cluster: str | None = None):
        """The VolumeManager of the section ``name`` of cinder.conf as it is now, on
        ``node`` (in ``cluster`` if given), initialised as cinder-volume does at start."""
        from cinder import objects
        from cinder.objects import base as objects_base
        from cinder.volume import manager
        host = '%s@%s' % (node, name)
        cluster_name = '%s@%s' % (cluster, name) if cluster else None
        # The service row a started cinder-volume service has (migration looks it up; the
        # volume API's RPC client reads the versions of every row).
        objects.Service(context=self.context, host=host, binary='cinder-volume',
                        topic='cinder-volume', availability_zone='nova',
                        cluster_name=cluster_name,
                        rpc_current_version=manager.VolumeManager.RPC_API_VERSION,
                        object_current_version=objects_base.OBJ_VERSIONS.get_current()
                        ).create()
        volume_manager = manager.VolumeManager(service_name=name, host=host,
                                               cluster=cluster_name)
        volume_manager.init_host(service_id=None)
        return volume_manager

    def add_backend(self, name: str, vc: Simulator, options: dict[str, str]):
        """The VolumeManager of a backend section ``name`` on ``vc`` with our driver and
        ``options``, added as if cinder.conf had it and cinder-volume restarted."""
        from cinder.volume import configuration, driver, manager
        from oslo_config import cfg

        from vmdk_volume.driver import options as vmdk_options
        section = configuration.Configuration(manager.volume_backend_opts, config_group=name)
        for opts in (driver.volume_opts, vmdk_options.vmdk_opts):
            section.append_config_values(opts)
        settings = dict(volume_driver='vmdk_volume.driver.VMwareVcVmdkDriver',
                        volume_backend_name=name, vmware_host_ip=vc.host,
                        vmware_host_port=vc.port, vmware_host_username='admin',
                        vmware_host_password='secret-%s' % name, vmware_ca_file=vc.ca_file,
                        vmware_volume_folder='Volumes', **options)
        for option, value in settings.items():
            cfg.CONF.set_override(option, value, group=name)
        cfg.CONF.set_override('enabled_backends', [*cfg.CONF.enabled_backends, name])
        self.managers[name] = self.start_manager(name)
        return self.managers[name]

    def remove_backend(self, name: str) -> None:
        """Forget the backend ``add_backend`` added (its simulator may be gone): as if its
        section left cinder.conf and the operator removed its service
        (``cinder-manage service remove``)."""
        from cinder import objects
        from oslo_config import cfg
        manager = self.managers.pop(name)
        cfg.CONF.set_override('enabled_backends',
                              [b for b in cfg.CONF.enabled_backends if b != name])
        objects.Service.get_by_args(self.context, manager.host, 'cinder-volume').destroy()

    def clustered(self, backend: str, nodes: tuple[str, ...], cluster: str) -> list:
        """VolumeManagers of one Cinder cluster (active-active), one per node, each with
        its own driver for ``backend``'s section: as cinder-volume services on ``nodes``."""
        return [self.start_manager(backend, node, cluster) for node in nodes]

    def volume_type(self, name: str, extra_specs: dict):
        from cinder.volume import volume_types
        return volume_types.create(self.context, name, extra_specs)

    def new_volume(self, backend: str, size_gb: int = 1, volume_type=None, **fields):
        """A volume row as the API and scheduler would leave it for ``backend``."""
        from cinder import objects
        volume = objects.Volume(
            context=self.context, size=size_gb, status='creating', attach_status='detached',
            host='cinder@%s#%s' % (backend, backend), user_id=USER_ID,
            volume_type_id=volume_type['id'] if volume_type else None,
            availability_zone='nova', **{'project_id': PROJECT_ID, **fields})
        volume.create()
        return volume

    def create_snapshot(self, backend: str, volume):
        """A snapshot of ``volume`` made through the manager."""
        from cinder import objects
        snapshot = objects.Snapshot(context=self.context, volume_id=volume.id,
                                    volume_size=volume.size, status='creating',
                                    project_id=PROJECT_ID, user_id=USER_ID,
                                    volume_type_id=volume.volume_type_id)
        snapshot.create()
        self.managers[backend].create_snapshot(self.context, snapshot)
        snapshot.refresh()
        return snapshot

    def create_volume(self, backend: str, image_id: str | None = None, **kwargs):
        """A volume made through the manager (from ``image_id`` if given)."""
        from cinder import objects
        volume = self.new_volume(backend, **kwargs)
        request_spec = objects.RequestSpec(image_id=image_id) if image_id else None
        self.managers[backend].create_volume(self.context, volume, request_spec=request_spec,
                                             allow_reschedule=False)
        volume.refresh()
        return volume

    def stop(self) -> None:
        from cinder import coordination
        coordination.COORDINATOR.stop()
