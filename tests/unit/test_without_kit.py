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

"""The unit tests need neither the simulator kit nor Go: they are collected with the kit made
unimportable (as in ``tox -e unit``, which does not install it)."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECT = ("import sys; sys.modules['vmdk_volume_simkit'] = None; import pytest; "
           "sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', "
           "'tests/unit']))")


def test_unit_tests_import_nothing_of_the_kit():
    done = subprocess.run([sys.executable, '-c', COLLECT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert 'test_unit_tests_import_nothing_of_the_kit' in done.stdout
