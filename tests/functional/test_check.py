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

"""``vmdk-volume check`` against a simulated vCenter configured right and wrong."""

import json
import pathlib
import subprocess
import sys

import certifi
import pytest
from vmdk_volume_simkit import ModelSize, Simulator

from tests.functional.helpers import write_conf
from vmdk_volume.cmd import main as cli

PASSWORD = 'Pa55-for-check'
WRONG_PASSWORD = 'not-Pa55-either'


@pytest.fixture(scope='module')
def guarded_vc():
    """A simulator accepting only admin / PASSWORD."""
    with Simulator(ModelSize(hosts=2, datastores=3), username='admin',
                   password=PASSWORD) as vc:
        yield vc


def conf_for(path: pathlib.Path, vc: Simulator, **options) -> pathlib.Path:
    return write_conf(path, vc, **{'vmware_host_password': PASSWORD, **options})


def check(capsys, conf: pathlib.Path, *extra: str) -> tuple[int, dict, str]:
    """Run the check twice (JSON, text): exit code, JSON report, text and stderr."""
    code = cli.main(['check', '--config-file', str(conf), '--json', *extra])
    report = json.loads(capsys.readouterr().out)
    assert cli.main(['check', '--config-file', str(conf), *extra]) == code
    out = capsys.readouterr()
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert secret not in out.out + out.err + json.dumps(report)
    assert [b['backend'] for b in report['backends']] == ['vc']   # lvm is not ours
    return code, report['backends'][0], out.out + out.err


def findings(backend: dict, status: str | None = None) -> list[tuple[str, str, str]]:
    return [(f['topic'], f['subject'], f['detail']) for f in backend['findings']
            if status is None or f['status'] == status]


def test_a_right_configuration_is_usable(capsys, tmp_path, guarded_vc):
    code, backend, text = check(capsys, conf_for(tmp_path, guarded_vc))
    assert code == 0 and backend['usable']
    assert findings(backend, 'error') == [] and findings(backend, 'excluded') == []
    topics = [topic for topic, _, _ in findings(backend, 'ok')]
    assert topics == ['options', 'network', 'certificate', 'login', 'version', 'cluster',
                      'datastore', 'datastore', 'datastore', 'pool', 'volume folder',
                      'privileges']
    [(_, name, detail)] = [f for f in findings(backend) if f[0] == 'pool']
    assert name == 'vc' and detail.startswith('the one pool of the backend')
    assert 'backend vc: usable' in text
    assert 'LocalDS_0' in text and 'GiB free' in text


def test_a_wrong_password_fails_login(capsys, tmp_path, guarded_vc):
    code, backend, text = check(capsys, conf_for(
        tmp_path, guarded_vc, vmware_host_password=WRONG_PASSWORD))
    assert code == 1 and not backend['usable']
    assert findings(backend, 'error') == [('login', '', (
        "vCenter %s:%d refused the login of 'admin': check vmware_host_username and "
        'vmware_host_password' % (guarded_vc.host, guarded_vc.port)))]
    assert 'backend vc: NOT USABLE' in text


def test_a_wrong_ca_fails_certificate_verification(capsys, tmp_path, guarded_vc):
    code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc,
                                                vmware_ca_file=certifi.where()))
    assert code == 1
    [(topic, _, detail)] = findings(backend, 'error')
    assert topic == 'certificate'
    assert detail.startswith('not verified with %s (' % certifi.where())
    assert detail.endswith('set vmware_ca_file to the CA bundle that signed it')
    assert 'vmware_host_ip' not in detail
    assert [t for t, _, _ in findings(backend)][-1] == 'certificate'   # login not tried


def test_a_host_name_the_certificate_lacks_is_told_to_change_vmware_host_ip(
        capsys, tmp_path, guarded_vc):
    """127.1 reaches the simulator (127.0.0.1) under a name its certificate does not carry:
    the CA file is right, the name is not."""
    code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc, vmware_host_ip='127.1'))
    assert code == 1
    [(topic, _, detail)] = findings(backend, 'error')
    assert topic == 'certificate'
    assert detail == (
        "the certificate of vCenter 127.1:%d is signed by a trusted CA but issued for "
        "localhost, 127.0.0.1, ::1, not for '127.1': set vmware_host_ip to one of those "
        'names' % guarded_vc.port)
    assert [t for t, _, _ in findings(backend)][-1] == 'certificate'   # login not tried


def test_an_unknown_cluster_is_named_with_the_ones_vcenter_has(capsys, tmp_path, guarded_vc):
    code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc,
                                                vmware_cluster_name='gold'))
    assert code == 1
    assert ('cluster', 'gold', 'not found in vCenter: fix vmware_cluster_name (clusters: '
            'DC0_C0)') in findings(backend, 'error')


def test_a_regex_matching_nothing_excludes_every_datastore(capsys, tmp_path, guarded_vc):
    code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc,
                                                vmware_datastore_regex='^ssd-'))
    assert code == 1
    excluded = findings(backend, 'excluded')
    assert [name for _, name, _ in excluded] == ['LocalDS_0', 'LocalDS_1', 'LocalDS_2']
    assert all(detail.endswith(": name does not match vmware_datastore_regex '^ssd-'")
               for _, _, detail in excluded)
    assert findings(backend, 'error') == [(
        'placement', '', "no datastore can hold volumes: none of 3 datastores matches "
                         "vmware_datastore_regex '^ssd-'")]


def test_datastores_all_in_maintenance_leave_nothing_usable(capsys, tmp_path, guarded_vc):
    names = ['LocalDS_0', 'LocalDS_1', 'LocalDS_2']
    for name in names:
        guarded_vc.change_datastore(name, maintenance=True)
    try:
        code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc))
    finally:
        for name in names:
            guarded_vc.change_datastore(name, maintenance=False)
    assert code == 1
    assert [(name, detail.rpartition(': ')[2]) for _, name, detail
            in findings(backend, 'excluded')] == [(n, 'in maintenance') for n in names]
    assert findings(backend, 'error') == [(
        'placement', '', 'no datastore can hold volumes: all 3 datastores of a supported '
                         'type are in maintenance or inaccessible')]


def test_datastore_pools_are_shown_as_the_scheduler_sees_them(capsys, tmp_path, guarded_vc):
    guarded_vc.change_datastore('LocalDS_1', maintenance=True)
    try:
        code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc,
                                                    vmware_pools='datastore'))
    finally:
        guarded_vc.change_datastore('LocalDS_1', maintenance=False)
    assert code == 0
    pools = [(f['status'], f['subject'], f['detail'].partition(':')[0])
             for f in backend['findings'] if f['topic'] == 'pool']
    assert pools == [('ok', 'LocalDS_0', 'up'),
                     ('excluded', 'LocalDS_1', 'down, no capacity reported'),
                     ('ok', 'LocalDS_2', 'up')]


def test_a_datastore_cluster_is_shown_as_one_pool_in_place_of_its_members(capsys, tmp_path):
    with Simulator(ModelSize(hosts=2, datastores=3, vms=0)) as vc:
        vc.make_pod('POD0', ('LocalDS_1', 'LocalDS_2'))
        code, backend, _ = check(capsys, conf_for(tmp_path, vc, vmware_pools='datastore'))
    assert code == 0
    assert [(f['status'], f['subject'], f['detail']) for f in backend['findings']
            if f['topic'] == 'pool'] == [
        ('ok', 'LocalDS_0', 'up: 900 GiB free of 1024 GiB, 124 GiB provisioned'),
        ('ok', 'POD0', 'up: 1797 GiB free of 2048 GiB, 251 GiB provisioned')]


def test_storage_policies_named_in_options_must_exist(capsys, tmp_path, guarded_vc):
    code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc, vmware_storage_profile=[
        'vSAN Default Storage Policy', 'Gold']))
    assert code == 1
    policies = [f for f in findings(backend) if f[0] == 'storage policy']
    assert policies[0][:2] == ('storage policy', 'Gold')
    assert policies[0][2].startswith("named by vmware_storage_profile: vCenter has no "
                                     "storage policy named 'Gold' (it has: ")
    assert policies[1] == ('storage policy', 'vSAN Default Storage Policy',
                           'named by vmware_storage_profile: 3 compatible datastores')


def test_privileges_vcenter_refuses_are_named_with_their_object(capsys, tmp_path, guarded_vc):
    guarded_vc.deny_privileges(['Datastore.AllocateSpace'], on=['LocalDS_1'])
    try:
        code, backend, text = check(capsys, conf_for(tmp_path, guarded_vc))
    finally:
        guarded_vc.deny_privileges([])
    assert code == 1 and not backend['usable']
    assert findings(backend, 'error') == [(
        'privileges', '', "missing on datastore LocalDS_1: Datastore.AllocateSpace (grant "
                          "them to 'admin')")]
    assert 'backend vc: NOT USABLE' in text

    guarded_vc.deny_privileges(['VirtualMachine.Inventory.Create', 'VApp.Import'])
    try:
        code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc))
    finally:
        guarded_vc.deny_privileges([])
    assert code == 1
    assert findings(backend, 'error') == [
        ('privileges', '', "missing on VM folder of DC0: VirtualMachine.Inventory.Create "
                           "(grant them to 'admin')"),
        ('privileges', '', "missing on resource pool of DC0_C0: VApp.Import (grant them to "
                           "'admin')")]

    code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc))
    assert code == 0
    assert [f for f in findings(backend) if f[0] == 'privileges'] == [(
        'privileges', '', 'every privilege the driver needs is granted on 5 objects')]


def test_an_unreachable_vcenter_names_the_options(capsys, tmp_path, guarded_vc):
    code, backend, _ = check(capsys, conf_for(tmp_path, guarded_vc, vmware_host_port=1))
    assert code == 1
    [(topic, _, detail)] = findings(backend, 'error')
    assert topic == 'network' and 'check vmware_host_ip and vmware_host_port' in detail


def test_configuration_errors_are_one_line_and_debug_shows_the_traceback(capsys, tmp_path,
                                                                          guarded_vc):
    conf = conf_for(tmp_path, guarded_vc)
    assert cli.main(['check', '--config-file', str(conf), '--backend', 'lvm']) == 2
    err = capsys.readouterr().err
    assert err == ('vmdk-volume check: --backend lvm: not an enabled backend using '
                   'vmdk_volume.driver.VMwareVcVmdkDriver in %s (those are: vc)\n' % conf)
    assert cli.main(['check', '--config-file', str(tmp_path / 'nope.conf'), '--debug']) == 2
    err = capsys.readouterr().err
    assert 'Traceback' in err and err.splitlines()[-1].startswith('vmdk-volume check: ')


def test_the_console_script_exits_by_usability(tmp_path, guarded_vc):
    conf = conf_for(tmp_path, guarded_vc, vmware_host_password=WRONG_PASSWORD)
    done = subprocess.run([sys.executable, '-m', 'vmdk_volume.cmd.main', 'check', '--config-file',
                           str(conf), '--json', '--debug'], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert json.loads(done.stdout)['usable'] is False
    assert WRONG_PASSWORD not in done.stdout + done.stderr
    assert done.stderr == ''       # no library noise
