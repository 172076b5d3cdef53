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

"""Keystone as its install guide has it, from PyPI in a virtualenv of its own: its database
on the stack's MariaDB, ``keystone-manage db_sync``, fernet and credential keys,
``keystone-manage bootstrap``, gunicorn serving ``keystone.wsgi.api`` on a loopback port;
then the ``cinder`` service user (for cinder-api's keystonemiddleware) and the block-storage
endpoints pointing at the stack's cinder-api."""

import grp
import os
import pathlib
import pwd
import subprocess
import textwrap

from keystoneauth1 import session
from keystoneauth1.identity import v3

from tests.stack.services import Process, ServiceError, free_port, listening, wait_for

ADMIN_PASSWORD = 'stack-admin-secret'
SERVICE_PASSWORD = 'stack-cinder-secret'
DB_PASSWORD = 'stack-keystone-db-secret'
REGION = 'RegionOne'
# service type -> name, as devstack registers Cinder's v3 API
VOLUME_SERVICES = {'block-storage': 'cinder', 'volumev3': 'cinderv3'}


class Keystone:
    """Keystone in ``workdir`` from the virtualenv ``venv``; ``start`` brings it up."""

    def __init__(self, venv: pathlib.Path, workdir: pathlib.Path):
        self.venv, self.workdir, self.port = venv, workdir, free_port()
        self.conf = workdir / 'keystone.conf'
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return 'http://127.0.0.1:%d/v3' % self.port

    def authtoken(self) -> dict[str, str]:
        """cinder.conf's ``[keystone_authtoken]``: the ``cinder`` user in project ``service``."""
        return {'www_authenticate_uri': self.url, 'auth_url': self.url,
                'auth_type': 'password', 'username': 'cinder', 'password': SERVICE_PASSWORD,
                'user_domain_name': 'Default', 'project_name': 'service',
                'project_domain_name': 'Default'}

    def start(self, database_url: str, volume_url: str) -> 'Keystone':
        """Set up the database and keys, serve, and register Cinder at ``volume_url``
        (``.../v3``)."""
        self.conf.write_text(self._conf(database_url))
        self._manage('db_sync')
        user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        for keys in ('fernet_setup', 'credential_setup'):
            self._manage(keys, '--keystone-user', user, '--keystone-group', group)
        self._manage('bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
                     '--bootstrap-admin-url', self.url, '--bootstrap-public-url', self.url,
                     '--bootstrap-internal-url', self.url, '--bootstrap-region-id', REGION)
        # keystone.wsgi.api parses sys.argv with oslo.config, which refuses gunicorn's
        (self.workdir / 'keystone_wsgi.py').write_text(
            'import sys\nsys.argv[1:] = []\nfrom keystone.wsgi.api import application\n')
        self.process = Process('keystone', [
            str(self.venv / 'bin' / 'gunicorn'), '--bind', '127.0.0.1:%d' % self.port,
            '--workers', '2', '--timeout', '120', '--pythonpath', str(self.workdir),
            '--no-control-socket', 'keystone_wsgi:application'],
            self.workdir / 'log' / 'keystone.out',
            {'OS_KEYSTONE_CONFIG_FILES': str(self.conf)}).start()
        wait_for('Keystone on port %d' % self.port, lambda: listening(self.port), 60,
                 self.process)
        self._register(volume_url)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def admin_session(self) -> session.Session:
        return session.Session(timeout=60, auth=v3.Password(
            auth_url=self.url, username='admin', password=ADMIN_PASSWORD, project_name='admin',
            user_domain_id='default', project_domain_id='default'))

    def _conf(self, database_url: str) -> str:
        """keystone.conf; bcrypt's fewest rounds, as Tempest's dynamic credentials make and
        check a password per test class (12 rounds cost 0.3 s of CPU each)."""
        return textwrap.dedent('''\
            [DEFAULT]
            log_file = {log}
            [database]
            connection = {database_url}
            [identity]
            password_hash_rounds = 4
            [token]
            provider = fernet
            [fernet_tokens]
            key_repository = {workdir}/fernet-keys
            [credential]
            key_repository = {workdir}/credential-keys
            ''').format(log=self.workdir / 'log' / 'keystone.log', database_url=database_url,
                        workdir=self.workdir)

    def _manage(self, *args: str) -> None:
        result = subprocess.run([str(self.venv / 'bin' / 'keystone-manage'), '--config-file',
                                 str(self.conf), *args], capture_output=True, text=True)
        if result.returncode:
            raise ServiceError('keystone-manage %s failed:\n%s' % (args[0],
                                                                   result.stderr[-3000:]))

    def _register(self, volume_url: str) -> None:
        """Project ``service``, user ``cinder`` with the service role there (keystonemiddleware
        validates tokens with it), and Cinder's endpoints in the catalog."""
        api = self.admin_session()

        def post(path: str, key: str, body: dict) -> str:
            return api.post(self.url + path, json={key: body}).json()[key]['id']
        project = post('/projects', 'project', {'name': 'service', 'domain_id': 'default'})
        user = post('/users', 'user', {'name': 'cinder', 'password': SERVICE_PASSWORD,
                                       'domain_id': 'default'})
        roles = {r['name']: r['id'] for r in api.get(self.url + '/roles').json()['roles']}
        for role in ('admin', 'service'):
            api.put(self.url + '/projects/%s/users/%s/roles/%s' % (project, user, roles[role]))
        for kind, name in VOLUME_SERVICES.items():
            service = post('/services', 'service', {'type': kind, 'name': name})
            for interface in ('public', 'internal', 'admin'):
                post('/endpoints', 'endpoint', {
                    'service_id': service, 'interface': interface, 'region_id': REGION,
                    'url': volume_url + '/$(project_id)s'})
