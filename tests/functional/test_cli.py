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

"""The ``vmdk-volume`` console script."""

import signal
import socket
import subprocess
import sys

import pytest
import requests


def test_simulator_command_serves_until_terminated():
    process = subprocess.Popen([sys.executable, '-m', 'vmdk_volume.cmd.main', 'simulator',
                                '--hosts', '2'], stdout=subprocess.PIPE, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line.strip())
        if line.startswith('Press Ctrl-C'):
            break
    settings = dict(line.split(' = ') for line in lines if ' = ' in line)
    url = 'https://%s:%s/_sim/stats' % (settings['vmware_host_ip'],
                                        settings['vmware_host_port'])
    assert requests.get(url, verify=settings['vmware_ca_file'], timeout=10).ok

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    with pytest.raises(ConnectionRefusedError):          # the simulator stopped with it
        socket.create_connection((settings['vmware_host_ip'],
                                  int(settings['vmware_host_port'])), timeout=2)
