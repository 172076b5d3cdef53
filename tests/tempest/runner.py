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

"""Tempest and cinder-tempest-plugin from their own virtualenv: a ``tempest init`` workspace,
a tempest.conf saying what this deployment has (identity v3 and volume; no compute, image,
network or object storage; the driver's features), ``tempest run`` with the exclude list,
and its results read from the subunit stream."""

import csv
import dataclasses
import io
import pathlib
import subprocess
import textwrap

from tests.stack.services import ServiceError
from tests.tempest.keystone import ADMIN_PASSWORD, REGION

HERE = pathlib.Path(__file__).parent
EXCLUDE_LIST = HERE / 'exclude-list.txt'
REGEX = r'^tempest\.api\.volume|^cinder_tempest_plugin\.api'
CONCURRENCY = 4


@dataclasses.dataclass
class Results:
    """Test id -> status (``success``, ``skip``, ``failure``, ``error``, ...) of one run."""

    statuses: dict[str, str]

    def passed(self) -> list[str]:
        return self._named(lambda status: status == 'success')

    def skipped(self) -> list[str]:
        return self._named(lambda status: status == 'skip')

    def failed(self) -> list[str]:
        return self._named(lambda status: status not in ('success', 'skip'))

    def summary(self) -> str:
        return '%d passed, %d failed, %d skipped' % (
            len(self.passed()), len(self.failed()), len(self.skipped()))

    def _named(self, wanted) -> list[str]:
        return sorted(test for test, status in self.statuses.items() if wanted(status))


class Tempest:
    """A workspace in ``workdir`` for the virtualenv ``venv``."""

    def __init__(self, venv: pathlib.Path, workdir: pathlib.Path):
        self.venv, self.workspace = venv, workdir / 'tempest'
        self.log = workdir / 'log' / 'tempest-run.out'

    def init(self, identity_url: str, backend_names: list[str]) -> 'Tempest':
        registry = self.workspace.parent / 'workspace.yaml'     # not ~/.tempest's
        self._run('tempest', 'init', '--workspace-path', str(registry), str(self.workspace),
                  cwd=self.workspace.parent)
        (self.workspace / 'etc' / 'tempest.conf').write_text(
            self.conf(identity_url, backend_names))
        return self

    def conf(self, identity_url: str, backend_names: list[str]) -> str:
        """tempest.conf: Keystone's admin for dynamic credentials; only Cinder available;
        the volume features as the driver has them (backups by the stack's cinder-backup,
        no Nova to attach or extend attached volumes; tests needing Glance skip themselves),
        cinder-tempest-plugin's in ``[volume-feature-enabled]`` too."""
        return textwrap.dedent('''\
            [DEFAULT]
            log_dir = {workspace}/logs
            log_file = tempest.log
            [oslo_concurrency]
            lock_path = {workspace}/tempest_lock
            [auth]
            use_dynamic_credentials = true
            admin_username = admin
            admin_password = {password}
            admin_project_name = admin
            admin_domain_name = Default
            [identity]
            uri_v3 = {identity}
            auth_version = v3
            region = {region}
            [identity-feature-enabled]
            api_v2 = false
            [service_available]
            cinder = true
            nova = false
            glance = false
            neutron = false
            swift = false
            [volume]
            catalog_type = block-storage
            backend_names = {backends}
            storage_protocol = vmdk
            vendor_name = VMware
            min_microversion = 3.0
            max_microversion = latest
            build_timeout = 180
            [volume-feature-enabled]
            multi_backend = true
            backup = true
            snapshot = true
            clone = true
            manage_volume = true
            manage_snapshot = true
            extend_attached_volume = false
            extend_volume_with_snapshot = true
            enable_volume_image_dep_tests = true
            cluster_active_active = true
            volume_revert = true
            consistency_group = false
            volume_image_dep_tests = false
            ''').format(workspace=self.workspace, password=ADMIN_PASSWORD,
                        identity=identity_url, region=REGION, backends=','.join(backend_names))

    def listed(self) -> list[str]:
        """The ids of the tests the regex selects, none excluded."""
        out = self._run('tempest', 'run', '--list-tests', '--regex', REGEX)
        return [line for line in out.splitlines() if line.startswith(('tempest.', 'cinder_'))]

    def run(self) -> Results:
        stream = self.workspace / 'results.subunit'
        with open(stream, 'wb') as out, open(self.log, 'wb') as err:
            subprocess.run([str(self.venv / 'bin' / 'tempest'), 'run', '--subunit',
                            '--regex', REGEX, '--exclude-list', str(EXCLUDE_LIST),
                            '--concurrency', str(CONCURRENCY)],
                           cwd=self.workspace, stdout=out, stderr=err)
        table = subprocess.run(     # exits 1 when the stream has a failure
            [str(self.venv / 'bin' / 'subunit2csv'), '--no-passthrough', str(stream)],
            capture_output=True, text=True).stdout
        return Results({row['test']: row['status']
                        for row in csv.DictReader(io.StringIO(table))})

    def _run(self, program: str, *args: str, cwd: pathlib.Path | None = None) -> str:
        result = subprocess.run([str(self.venv / 'bin' / program), *args],
                                cwd=cwd or self.workspace, capture_output=True, text=True)
        if result.returncode:
            raise ServiceError('%s %s failed:\n%s' % (program, args[0], result.stderr[-3000:]))
        return result.stdout


def exclusions(path: pathlib.Path = EXCLUDE_LIST) -> dict[str, str]:
    """The exclude list's regexes and the reason each line gives after ``#``."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict((regex.strip(), reason.strip()) for regex, _, reason in
                (line.partition('#') for line in lines if line and not line.startswith('#')))
