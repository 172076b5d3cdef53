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

"""The documentation builds with warnings as errors, as ``tox -e docs`` builds it (it
includes README.rst's sections and etc/cinder.conf.sample), in a few seconds."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_docs_build_without_warnings(tmp_path):
    done = subprocess.run([sys.executable, '-m', 'sphinx', '-W', '-q', '-b', 'html',
                           str(ROOT / 'doc' / 'source'), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'Finding leftovers' in (tmp_path / 'operations.html').read_text()
    assert 'vmware_host_ip' in (tmp_path / 'configuration.html').read_text()
