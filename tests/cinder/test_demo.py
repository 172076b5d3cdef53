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

"""``vmdk-volume demo`` runs end to end from the console script and exits 0."""

import subprocess
import sys

STEPS = ['volume types', 'create', 'attach', 'image to volume', 'clone', 'snapshot',
         'volume from snapshot', 'extend', 'retype', 'upload to image', 'detach', 'delete']


def test_the_demo_walks_the_lifecycle_on_both_backends():
    done = subprocess.run([sys.executable, '-m', 'vmdk_volume.cmd.main', 'demo'],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for backend in ('vc1', 'vc2'):
        rows = [line for line in lines if line[22:26].strip() == backend and ' calls ' in line]
        assert [row[:21].strip() for row in rows] == STEPS
        assert all(' FAILED ' not in row for row in rows)
    create = next(line for line in lines if line.startswith('create '))
    assert 'nothing on vCenter yet' in create and ' 0 calls' in create
    attach = next(line for line in lines if line.startswith('attach '))
    assert 'in OpenStack/Project (' in attach and ' on LocalDS_' in attach
    assert ', host DC0_' in attach
    assert lines[-1].endswith(', 0 failed')
    assert 'Traceback' not in done.stderr
