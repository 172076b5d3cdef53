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

"""``vmdk-volume check`` on Cinder's own cinder.conf: volume types come from its database."""

import json
import subprocess
import sys

from cinder.volume import volume_types


def test_check_reads_storage_policies_of_volume_types(cinder):
    kind = cinder.volume_type('check-gold', {'vmware:storage_profile': 'Gold',
                                             'volume_backend_name': 'vc2'})
    try:
        done = subprocess.run([sys.executable, '-m', 'vmdk_volume.cmd.main', 'check', '--json',
                               '--config-file', str(cinder.conf_file)],
                              capture_output=True, text=True, timeout=120)
    finally:
        volume_types.destroy(cinder.context, kind['id'])
    assert done.returncode == 1, done.stderr
    report = {b['backend']: b for b in json.loads(done.stdout)['backends']}
    assert report['vc1']['usable']          # the type names vc2's backend only
    errors = [f for f in report['vc2']['findings'] if f['status'] == 'error']
    assert [(f['topic'], f['subject']) for f in errors] == [('storage policy', 'Gold')]
    assert errors[0]['detail'].startswith('named by volume type check-gold: vCenter has no '
                                          "storage policy named 'Gold'")
    assert 'secret-vc' not in done.stdout + done.stderr       # the harness's passwords
