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

"""tools/install-system-deps reads bindep.txt the way bindep does for the dpkg platform."""

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'install-system-deps'
SAMPLE = """\
# a comment
plain
deb-only [platform:dpkg]   # trailing comment
rpm-only [platform:rpm]
not-deb [!platform:rpm !platform:dpkg]
tested [platform:dpkg test]
untested [!test]
docs [doc]
"""


def run(bindep: pathlib.Path, *profiles: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), '-f', str(bindep), '--list', *profiles],
                          capture_output=True, text=True)


@pytest.fixture
def sample(tmp_path) -> pathlib.Path:
    path = tmp_path / 'bindep.txt'
    path.write_text(SAMPLE)
    return path


@pytest.mark.parametrize('profiles, expected', [
    ((), ['plain', 'deb-only', 'tested']),
    (('default',), ['plain', 'deb-only', 'untested']),
    (('doc', 'test'), ['plain', 'deb-only', 'tested', 'docs']),
])
def test_selectors_pick_packages_for_dpkg_and_profiles(sample, profiles, expected):
    result = run(sample, *profiles)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_version_constraints_are_refused_naming_the_line(tmp_path):
    path = tmp_path / 'bindep.txt'
    path.write_text('plain\nqemu-utils [platform:dpkg] >= 7.0\n')
    result = run(path)
    assert result.returncode != 0
    assert f'{path}:2:' in result.stderr and '>= 7.0' in result.stderr
    assert result.stdout == ''


def test_the_repository_lists_the_driver_and_test_packages():
    driver = ['qemu-utils', 'util-linux']
    tests = ['golang-go', 'golang-github-vmware-govmomi-dev', 'redis-server', 'strace']
    assert run(ROOT / 'bindep.txt').stdout.split() == driver + tests
    assert run(ROOT / 'bindep.txt', 'default').stdout.split() == driver
    stack = ['redis-server', 'rabbitmq-server', 'mariadb-server', 'python3-venv']
    assert run(ROOT / 'bindep.txt', 'stack').stdout.split() == driver + stack
