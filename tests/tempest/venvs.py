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

"""Virtualenvs of their own for Keystone and Tempest (their requirements are not the
driver's), made once per requirements file and kept in the simulator kit's cache."""

import fcntl
import hashlib
import pathlib
import shutil
import subprocess
import sys

from vmdk_volume_simkit.build import cache_root

HERE = pathlib.Path(__file__).parent
COMPLETE = '.complete'      # written last: a virtualenv without it is half made


class InstallError(RuntimeError):
    """pip could not make a virtualenv; the message has the end of its output."""


def virtualenv(requirements: pathlib.Path) -> pathlib.Path:
    """The virtualenv with ``requirements`` installed, under the cache as
    ``<stem>-<hash of the file>``; made if missing, one process at a time."""
    text = requirements.read_bytes()
    name = '%s-%s' % (requirements.stem.removesuffix('-requirements'),
                      hashlib.sha256(text).hexdigest()[:12])
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    with open(root / ('%s.lock' % name), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / COMPLETE).exists():
            _make(target, requirements)
    return target


def _make(target: pathlib.Path, requirements: pathlib.Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    log = target.with_suffix('.log')
    with open(log, 'w') as out:
        for argv in ([sys.executable, '-m', 'venv', str(target)],
                     [str(target / 'bin' / 'pip'), 'install', '-q', '-r', str(requirements)]):
            if subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode:
                lines = [line for line in log.read_text().splitlines()
                         if not line.startswith('WARNING: Location')]
                raise InstallError('%s failed (%s):\n%s' % (
                    ' '.join(argv), log, '\n'.join(lines[-20:])))
    (target / COMPLETE).write_text(requirements.read_text())
