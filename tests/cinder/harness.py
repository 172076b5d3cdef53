"""Cinder's own VolumeManager, in-process, loading our driver from a two-backend cinder.conf.

sqlite in a temporary directory, the fake messaging transport, file-based coordination:
the same code path as a cinder-volume service, without the service around it.
"""

import pathlib
import textwrap

from vmdk_volume.simkit import Simulator

PROJECT_ID = 'f2d4a3b0c1d24f6e8a7b9c0d1e2f3a4b'
USER_ID = 'u-0001'


def write_cinder_conf(workdir: pathlib.Path, simulators: dict[str, Simulator],
                      options: dict[str, dict[str, str]]) -> pathlib.Path:
    """A cinder.conf whose backend sections each point at one simulator, with ``options``
    added per section."""
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
        connection = sqlite:///{workdir}/cinder.db
        [oslo_concurrency]
        lock_path = {workdir}/locks
        [coordination]
        backend_url = file://{workdir}/coordination
        ''').format(backends=','.join(simulators), workdir=workdir) + sections)
    return conf


class Cinder:
    """A configured Cinder with one VolumeManager per backend section."""

    def __init__(self, workdir: pathlib.Path, simulators: dict[str, Simulator],
                 options: dict[str, dict[str, str]]):
        from cinder import objects
        objects.register_all()     # before cinder.volume.manager is imported
        from cinder import context, coordination, rpc
        from cinder.common import config  # noqa: F401 - registers the options
        from cinder.db import migration
        from oslo_config import cfg

        conf_file = write_cinder_conf(workdir, simulators, options)
        cfg.CONF(['--config-file', str(conf_file)], project='cinder')
        migration.db_sync()
        rpc.init(cfg.CONF)
        coordination.COORDINATOR.start()
        self.context = context.RequestContext(USER_ID, PROJECT_ID, is_admin=True)
        self.managers = {name: self._manager(name) for name in simulators}

    @staticmethod
    def _manager(name: str):
        from cinder.volume import manager
        volume_manager = manager.VolumeManager(service_name=name, host='cinder@%s' % name)
        volume_manager.init_host(service_id=None)
        return volume_manager

    def volume_type(self, name: str, extra_specs: dict):
        from cinder.volume import volume_types
        return volume_types.create(self.context, name, extra_specs)

    def new_volume(self, backend: str, size_gb: int = 1, volume_type=None, **fields):
        """A volume row as the API and scheduler would leave it for ``backend``."""
        from cinder import objects
        volume = objects.Volume(
            context=self.context, size=size_gb, status='creating', attach_status='detached',
            host='cinder@%s#%s' % (backend, backend), project_id=PROJECT_ID, user_id=USER_ID,
            volume_type_id=volume_type['id'] if volume_type else None,
            availability_zone='nova', **fields)
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

    def create_volume(self, backend: str, **kwargs):
        volume = self.new_volume(backend, **kwargs)
        self.managers[backend].create_volume(self.context, volume)
        volume.refresh()
        return volume

    def stop(self) -> None:
        from cinder import coordination
        coordination.COORDINATOR.stop()
