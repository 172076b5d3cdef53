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

"""The services of a Cinder deployment, started as the test user on loopback ports with
their data in one work directory, and stopped (killed if need be) at the end.

MariaDB (``mariadb-install-db`` then ``mariadbd``), RabbitMQ (Debian's
``/usr/lib/rabbitmq/bin/rabbitmq-server``, with its own epmd port and node name so that a
system broker does not matter), Redis, then Cinder as installed in this virtualenv:
``cinder-manage db sync``, cinder-api (its eventlet WSGI server, noauth), cinder-scheduler,
cinder-backup (posix driver) and one cinder-volume per node, the nodes one cluster serving the
same backend sections.
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from vmdk_volume_simkit import Simulator

BIN = pathlib.Path(sys.executable).parent
RABBITMQ_BIN = pathlib.Path('/usr/lib/rabbitmq/bin')
# name -> where it is looked up (None: PATH)
BINARIES = {'mariadbd': '/usr/sbin', 'mariadb-install-db': None, 'mariadb': None,
            'rabbitmq-server': str(RABBITMQ_BIN), 'epmd': None, 'redis-server': None}
PROJECT_ID = 'f2d4a3b0c1d24f6e8a7b9c0d1e2f3a4b'
DB_PASSWORD = 'stack-db-secret'


def backend_section(vc: Simulator, name: str, backend_name: str | None = None,
                    **options: str) -> dict[str, str]:
    """The cinder.conf section of backend ``name`` on ``vc``; cinder-backup's os-brick logs
    in with its credentials."""
    return dict(volume_driver='vmdk_volume.driver.VMwareVcVmdkDriver',
                volume_backend_name=backend_name or name, vmware_host_ip=vc.host,
                vmware_host_port=str(vc.port), vmware_host_username='admin',
                vmware_host_password='secret-%s' % name, vmware_ca_file=vc.ca_file,
                vmware_volume_folder='Volumes', vmware_connector_credentials='True',
                **options)


class ServiceError(RuntimeError):
    """A service did not start, or stopped."""


def missing_binaries() -> list[str]:
    """The service binaries this machine lacks."""
    return [name for name, path in BINARIES.items()
            if not shutil.which(name, path=path or os.environ.get('PATH'))]


def require_binaries(stage: str) -> None:
    """Fail ``stage`` in CI (``CI=true``), else skip it, when a service binary is missing."""
    missing = missing_binaries()
    if not missing:
        return
    if os.environ.get('CI') == 'true':
        pytest.fail('%s needs %s (tools/install-system-deps stack)' % (stage, ', '.join(missing)))
    pytest.skip('%s needs %s: tools/install-system-deps stack' % (stage, ', '.join(missing)))


def binary(name: str) -> str:
    return shutil.which(name, path=BINARIES[name] or os.environ.get('PATH'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(what, ready, timeout: float, process: 'Process | None' = None):
    """``ready()``'s first true answer, polled until ``timeout`` seconds; ServiceError if
    ``process`` exits first or time runs out (``what``, or what it returns, names it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = ready()
        if answer:
            return answer
        if process is not None and not process.running:
            raise ServiceError('%s exited (%s) before %s:\n%s' % (
                process.name, process.returncode, _named(what), process.tail()))
        time.sleep(0.5)
    raise ServiceError('no %s after %d s%s' % (_named(what), timeout,
                                               ':\n' + process.tail() if process else ''))


def _named(what) -> str:
    return what() if callable(what) else what


def listening(port: int) -> bool:
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except OSError:
        return False


class Process:
    """One service, in a session of its own (its children go with it), its output in a log."""

    def __init__(self, name: str, argv: list[str], log: pathlib.Path, env: dict | None = None):
        self.name, self.argv, self.log, self.env = name, argv, log, env
        self._popen: subprocess.Popen | None = None

    def start(self) -> 'Process':
        with open(self.log, 'ab') as log:
            self._popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True,
                                           env=dict(os.environ, **(self.env or {})))
        return self

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self):
        return self._popen.poll() if self._popen else None

    def kill(self) -> None:
        """SIGKILL to the service and its children, as an operator's ``kill -9``."""
        os.killpg(self._popen.pid, signal.SIGKILL)
        self._popen.wait()

    def stop(self, timeout: float = 20) -> None:
        if not self.running:
            return
        os.killpg(self._popen.pid, signal.SIGTERM)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors='replace') if self.log.exists() else ''
        return '\n'.join(text.splitlines()[-lines:])


class Stack:
    """The whole deployment in ``workdir``; ``start`` brings it up, ``stop`` takes it down."""

    def __init__(self, workdir: pathlib.Path, backends: dict[str, dict[str, str]],
                 nodes: tuple[str, ...] = ('node1', 'node2'), cluster: str = 'stack',
                 auth_strategy: str = 'noauth', sections: dict[str, dict[str, str]] | None = None):
        """``auth_strategy`` is cinder.conf's; ``sections`` are more of its sections (as
        ``keystone_authtoken`` for ``keystone``)."""
        self.workdir, self.backends, self.nodes, self.cluster = workdir, backends, nodes, cluster
        self.auth_strategy, self.sections = auth_strategy, sections or {}
        self.logs = workdir / 'log'
        self.logs.mkdir(parents=True)
        self.ports = {name: free_port() for name in
                      ('mariadb', 'rabbitmq', 'rabbitmq_dist', 'epmd', 'redis', 'api')}
        self.processes: dict[str, Process] = {}
        self.conf = workdir / 'cinder.conf'

    @property
    def api_url(self) -> str:
        return 'http://127.0.0.1:%d/v3' % self.ports['api']

    def start(self) -> 'Stack':
        """Everything, in order; on a failure what started is stopped again."""
        try:
            self._start_mariadb()
            self._start_rabbitmq()
            self._start('redis', [binary('redis-server'), '--port', str(self.ports['redis']),
                                  '--bind', '127.0.0.1', '--dir', str(self.workdir),
                                  '--save', '', '--appendonly', 'no'])
            self._write_cinder_files()
            self._db_sync()
            for name in ('redis', 'rabbitmq'):
                wait_for('%s on port %d' % (name, self.ports[name]),
                         lambda n=name: listening(self.ports[n]), 90, self.processes[name])
            self._start('api', self._cinder('cinder-api'))
            self._start('scheduler', self._cinder('cinder-scheduler'))
            for node in self.nodes:
                self.start_volume(node)
            self._start_backup()
            wait_for('cinder-api on port %d' % self.ports['api'],
                     lambda: listening(self.ports['api']), 90, self.processes['api'])
        except BaseException:
            self.stop()
            raise
        return self

    def start_volume(self, node: str) -> Process:
        return self._start('volume-' + node, self._cinder(
            'cinder-volume', '--config-file', str(self.workdir / ('%s.conf' % node)),
            log='volume-%s.log' % node))

    def _start_backup(self) -> Process:
        """cinder-backup with the posix driver, its options in a file of its own. os-brick
        starts its privileged helper for the connector properties (its NVMe-oF connector
        reads the host's uuid) with ``root_helper``, which Cinder makes ``sudo
        cinder-rootwrap ...``; as root (no sudo here) ``[privsep_osbrick] helper_command``
        runs oslo.privsep's helper directly."""
        conf = self.workdir / 'backup.conf'
        conf.write_text(textwrap.dedent('''\
            [DEFAULT]
            backup_driver = cinder.backup.drivers.posix.PosixBackupDriver
            backup_posix_path = {workdir}/backups
            [privsep_osbrick]
            helper_command = {bin}/privsep-helper --config-file {conf} --config-file {own}
            ''').format(workdir=self.workdir, bin=BIN, conf=self.conf, own=conf))
        return self._start('backup', self._cinder('cinder-backup', '--config-file', str(conf)))

    def log_lines(self, prefix: str) -> list[str]:
        """The lines of the Cinder logs whose names start with ``prefix``, file by file."""
        return [line for path in sorted(self.logs.glob(prefix + '*.log'))
                for line in path.read_text(errors='replace').splitlines()]

    def stop(self) -> None:
        """Stop every service, then drop the database's and the broker's data (117 MB);
        the logs stay."""
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        for data in ('mariadb', 'rabbitmq'):
            shutil.rmtree(self.workdir / data, ignore_errors=True)

    def create_database(self, name: str, password: str) -> str:
        """A database ``name`` on the stack's MariaDB and a user of that name owning it; its
        SQLAlchemy URL."""
        sql = ("CREATE DATABASE {0}; CREATE USER '{0}'@'127.0.0.1' IDENTIFIED BY '{1}'; "
               "GRANT ALL ON {0}.* TO '{0}'@'127.0.0.1';").format(name, password)
        subprocess.run([binary('mariadb'), '--no-defaults', '-S',
                        str(self.workdir / 'mariadb.sock'), '-uroot', '-e', sql],
                       check=True, capture_output=True)
        return 'mysql+pymysql://%s:%s@127.0.0.1:%d/%s' % (
            name, password, self.ports['mariadb'], name)

    def _start(self, name: str, argv: list[str], env: dict | None = None) -> Process:
        self.processes[name] = Process(name, argv, self.logs / ('%s.out' % name), env).start()
        return self.processes[name]

    def _cinder(self, program: str, *args: str, log: str | None = None) -> list[str]:
        return [str(BIN / program), '--config-file', str(self.conf), *args,
                '--log-file', str(self.logs / (log or '%s.log' % program))]

    # -- MariaDB, RabbitMQ -----------------------------------------------------------------

    def _start_mariadb(self) -> None:
        datadir, socket_path = self.workdir / 'mariadb', self.workdir / 'mariadb.sock'
        as_root = ['--user=root'] if os.getuid() == 0 else []   # mariadbd refuses root else
        subprocess.run([binary('mariadb-install-db'), '--no-defaults', '--datadir=%s' % datadir,
                        '--auth-root-authentication-method=normal', '--skip-test-db',
                        *as_root], check=True, capture_output=True)
        process = self._start('mariadb', [
            binary('mariadbd'), '--no-defaults', '--datadir=%s' % datadir,
            '--socket=%s' % socket_path, '--port=%d' % self.ports['mariadb'],
            '--bind-address=127.0.0.1', '--pid-file=%s' % (self.workdir / 'mariadb.pid'),
            '--skip-log-bin', '--innodb-buffer-pool-size=64M', '--skip-name-resolve',
            *as_root])
        wait_for('MariaDB on its socket', socket_path.exists, 60, process)
        sql = ("CREATE DATABASE cinder; CREATE USER 'cinder'@'127.0.0.1' IDENTIFIED BY '%s'; "
               "GRANT ALL ON cinder.* TO 'cinder'@'127.0.0.1';" % DB_PASSWORD)
        wait_for('the cinder database', lambda: subprocess.run(
            [binary('mariadb'), '--no-defaults', '-S', str(socket_path), '-uroot', '-e', sql],
            capture_output=True).returncode == 0, 30, process)

    def _start_rabbitmq(self) -> None:
        base = self.workdir / 'rabbitmq'
        base.mkdir()
        (base / 'enabled_plugins').write_text('[].\n')
        epmd = {'ERL_EPMD_PORT': str(self.ports['epmd']), 'ERL_EPMD_ADDRESS': '127.0.0.1'}
        self._start('epmd', [binary('epmd'), '-port', str(self.ports['epmd']),
                             '-address', '127.0.0.1'], epmd)
        wait_for('epmd', lambda: listening(self.ports['epmd']), 20, self.processes['epmd'])
        self._start('rabbitmq', [binary('rabbitmq-server')], dict(
            epmd, HOME=str(base), RABBITMQ_NODENAME='vmdk-stack-%d@localhost' % os.getpid(),
            RABBITMQ_NODE_IP_ADDRESS='127.0.0.1', RABBITMQ_NODE_PORT=str(self.ports['rabbitmq']),
            RABBITMQ_DIST_PORT=str(self.ports['rabbitmq_dist']),
            RABBITMQ_MNESIA_BASE=str(base / 'mnesia'), RABBITMQ_LOG_BASE=str(base / 'log'),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(base / 'enabled_plugins'),
            RABBITMQ_CONFIG_FILE=str(base / 'rabbitmq'), RABBITMQ_PID_FILE=str(base / 'pid')))

    # -- Cinder ----------------------------------------------------------------------------

    def _write_cinder_files(self) -> None:
        """cinder.conf, one NODE.conf per node, and the files a pip-installed Cinder leaves
        in ``<prefix>/etc/cinder`` instead of /etc/cinder (copied from there)."""
        etc = self.workdir / 'etc'
        shutil.copytree(pathlib.Path(sys.prefix) / 'etc' / 'cinder', etc)
        rootwrap = (etc / 'rootwrap.conf').read_text()
        (etc / 'rootwrap.conf').write_text(rootwrap.replace(
            'filters_path=/etc/cinder/rootwrap.d', 'filters_path=%s/rootwrap.d' % etc))
        self.conf.write_text(self._cinder_conf(etc))
        for node in self.nodes:
            (self.workdir / ('%s.conf' % node)).write_text(textwrap.dedent('''\
                [DEFAULT]
                host = {node}
                [oslo_concurrency]
                lock_path = {workdir}/locks-{node}
                ''').format(node=node, workdir=self.workdir))

    def _cinder_conf(self, etc: pathlib.Path) -> str:
        ports = self.ports
        sections = ''.join('\n[%s]\n' % name + ''.join(
            '%s = %s\n' % item for item in options.items())
            for name, options in {**self.backends, **self.sections}.items())
        return textwrap.dedent('''\
            [DEFAULT]
            auth_strategy = {auth_strategy}
            transport_url = rabbit://guest:guest@127.0.0.1:{rabbitmq}/
            enabled_backends = {backends}
            cluster = {cluster}
            state_path = {workdir}/state
            api_paste_config = {etc}/api-paste.ini
            rootwrap_config = {etc}/rootwrap.conf
            resource_query_filters_file = {etc}/resource_filters.json
            osapi_volume_listen = 127.0.0.1
            osapi_volume_listen_port = {api}
            osapi_volume_workers = 1
            report_interval = 5
            periodic_interval = 10
            rpc_response_timeout = 30
            [database]
            connection = mysql+pymysql://cinder:{password}@127.0.0.1:{mariadb}/cinder
            [coordination]
            backend_url = redis://127.0.0.1:{redis}
            [oslo_concurrency]
            lock_path = {workdir}/locks
            ''').format(backends=','.join(self.backends), cluster=self.cluster,
                        auth_strategy=self.auth_strategy,
                        workdir=self.workdir, etc=etc, password=DB_PASSWORD,
                        **ports) + sections

    def _db_sync(self) -> None:
        wait_for('MariaDB on port %d' % self.ports['mariadb'],
                 lambda: listening(self.ports['mariadb']), 30, self.processes['mariadb'])
        result = subprocess.run([str(BIN / 'cinder-manage'), '--config-file', str(self.conf),
                                 'db', 'sync'], capture_output=True, text=True)
        if result.returncode:
            raise ServiceError('cinder-manage db sync failed:\n%s' % result.stderr[-3000:])
