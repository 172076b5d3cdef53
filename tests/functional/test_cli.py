"""The ``vmdk-volume`` console script."""

import signal
import socket
import subprocess
import sys

import pytest
import requests


def test_simulator_command_serves_until_terminated():
    process = subprocess.Popen([sys.executable, '-m', 'vmdk_volume.cli', 'simulator',
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
