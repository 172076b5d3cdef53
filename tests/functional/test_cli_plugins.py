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

"""``vmdk-volume`` gets ``demo`` and ``simulator`` from the simulator kit's plugins, and
works without the kit: the driver's command line never imports it."""

import subprocess
import sys

WITHOUT_KIT = ("import sys; sys.modules['vmdk_volume_simkit'] = None; "   # import fails
               "from vmdk_volume.cmd.main import main; sys.exit(main(sys.argv[1:]))")


def _vmdk_volume(*args: str, kit: bool = True) -> subprocess.CompletedProcess:
    command = ['-m', 'vmdk_volume.cmd.main'] if kit else ['-c', WITHOUT_KIT]
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True,
                          timeout=60)


def _commands(help_text: str) -> list[str]:
    return help_text.split('{', 1)[1].split('}', 1)[0].split(',')


def test_the_kit_adds_demo_and_simulator():
    done = _vmdk_volume('--help')
    assert done.returncode == 0
    assert _commands(done.stdout) == ['check', 'orphans', 'demo', 'simulator']
    assert 'run a simulated vCenter until interrupted' in done.stdout


def test_without_the_kit_check_and_orphans_remain_and_errors_are_one_line(tmp_path):
    done = _vmdk_volume('--help', kit=False)
    assert done.returncode == 0
    assert _commands(done.stdout) == ['check', 'orphans']

    missing = tmp_path / 'cinder.conf'
    done = _vmdk_volume('check', '--config-file', str(missing), kit=False)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith('vmdk-volume check: ')
    assert str(missing) in done.stderr.splitlines()[-1]
    assert 'Traceback' not in done.stderr
