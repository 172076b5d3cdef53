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

"""cinder-volume starting while vCenter is unreachable, through Cinder's own VolumeManager:
set-up fails within seconds with the cause, the backend reports itself down, operations
fail with a Cinder error saying so, and the backend comes up by itself once vCenter answers
(a simulator started late on the configured port)."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from cinder import exception
from oslo_config import cfg
from vmdk_volume_simkit import Simulator

from vmdk_volume.core.images import source
from vmdk_volume.driver import options

SETUP_BUDGET_S = 15      # one login attempt, its socket operations bounded at 10 s


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture
def late_backend(cinder):
    """make(name, port, **options): a VolumeManager for a new backend section on
    127.0.0.1:``port``, initialised as cinder-volume does at start."""
    from cinder.volume import driver, manager
    overrides, names = [], []

    def make(name, port, **settings):
        for opts in (manager.volume_backend_opts, driver.volume_opts, options.vmdk_opts):
            cfg.CONF.register_opts(opts, group=name)
        values = dict(volume_driver='vmdk_volume.driver.VMwareVcVmdkDriver',
                      volume_backend_name=name, vmware_host_ip='127.0.0.1',
                      vmware_host_port=port, vmware_host_username='admin',
                      vmware_host_password='secret', vmware_insecure=True)
        values.update(settings)
        for option, value in values.items():
            cfg.CONF.set_override(option, value, group=name)
            overrides.append((option, name))
        started = time.monotonic()
        cinder.managers[name] = cinder.start_manager(name)
        names.append(name)
        return cinder.managers[name], time.monotonic() - started
    yield make
    for name in names:
        cinder.managers.pop(name)
    for option, group in overrides:
        cfg.CONF.clear_override(option, group=group)


def test_backend_started_before_vcenter_comes_up_by_itself(cinder, late_backend):
    port = _free_port()
    manager, took = late_backend('late', port)
    assert took < SETUP_BUDGET_S
    stats = manager.driver.get_volume_stats(refresh=True)
    assert stats['backend_state'] == 'down' and stats['free_capacity_gb'] == 0
    assert '127.0.0.1:%d' % port in stats['backend_state_reason']
    volume = cinder.new_volume('late')
    with pytest.raises(exception.VolumeBackendAPIException,       # not KeyError: 'pools'
                       match='backend late is down: vCenter 127.0.0.1:%d' % port):
        manager.create_volume(cinder.context, volume, allow_reschedule=False)
    volume.refresh()
    assert volume.status == 'error'

    with Simulator(port=port) as vc:
        manager.publish_service_capabilities(cinder.context)     # Cinder's periodic task
        assert manager.last_capabilities['total_capacity_gb'] > 0
        assert 'backend_state' not in manager.last_capabilities
        volume = cinder.create_volume('late')
        assert volume.status == 'available'
        manager.delete_volume(cinder.context, volume)
        assert vc.stats().calls['Login'] == 1


def test_a_ca_file_that_does_not_exist_is_named_at_once(driver_for, tmp_path):
    driver = driver_for(vmware_ca_file=str(tmp_path / 'missing.pem'))
    started = time.monotonic()
    with pytest.raises(exception.VolumeBackendAPIException,
                       match='vmware_ca_file %s does not exist' % (tmp_path / 'missing.pem')):
        driver.do_setup(None)
    assert time.monotonic() - started < 1


def test_a_vcenter_that_accepts_tcp_and_never_answers_fails_the_login_in_seconds(
        cinder, driver_for):
    """vmware_api_timeout_secs unset (the default): the login is bounded all the same; an
    operation right after fails at once with the cause."""
    with socket.socket() as silent:
        silent.bind(('127.0.0.1', 0))
        silent.listen()
        driver = driver_for(vmware_host_port=silent.getsockname()[1])
        started = time.monotonic()
        driver.do_setup(None)
        assert time.monotonic() - started < SETUP_BUDGET_S
        with pytest.raises(exception.VolumeBackendAPIException, match='is down: .*timed out'):
            driver.create_volume(cinder.new_volume('vc1'))


SPOOLING = """
import itertools, sys, time
from vmdk_volume.core.images import source, transfer
chunks = (time.sleep(0.01) or b'x' * 1024 for _ in itertools.count())
source.spool(chunks, sys.argv[1], transfer.Meter('test', 0, 3600), 1 << 30)
"""


def _killed_while_spooling(tmp_dir) -> int:
    """The pid of a process SIGKILLed while it spooled an image into ``tmp_dir``."""
    spooling = subprocess.Popen([sys.executable, '-c', SPOOLING, str(tmp_dir)])
    deadline = time.monotonic() + 30
    while not list(tmp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    spooling.send_signal(signal.SIGKILL)
    spooling.wait()
    return spooling.pid


def test_setup_removes_the_spool_files_of_processes_that_are_gone_only(driver_for, tmp_path):
    killed = _killed_while_spooling(tmp_path)
    [spooled] = [p.name for p in tmp_path.iterdir()]
    assert spooled.startswith('%s%d-' % (source.SPOOL_PREFIX, killed))
    names = {'converted': spooled + '.vmdk',
             'live': '%s%d-def' % (source.SPOOL_PREFIX, os.getpid()),
             'foreign': 'vmdk-volume-spool-notapid', 'other': 'someone-elses.qcow2'}
    for name in names.values():
        (tmp_path / name).write_bytes(b'x')
    driver_for(vmware_tmp_dir=str(tmp_path)).do_setup(None)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[kept] for kept in ('live', 'foreign', 'other'))
