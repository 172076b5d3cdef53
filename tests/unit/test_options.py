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

"""Backend options: compatible with the in-tree driver, typed, documented in the sample."""

import json
import pathlib
import subprocess
import sys
import types

import pytest

from vmdk_volume.core.config import BackendConfig, ConfigError
from vmdk_volume.driver import options

ROOT = pathlib.Path(__file__).parents[2]


IN_TREE_OPTIONS = """
import json
from cinder.volume.drivers.vmware import vmdk
print(json.dumps([[o.dest, type(o).__name__, o.default, o.secret] for o in vmdk.vmdk_opts]))
"""


def test_every_in_tree_option_exists_with_its_type_and_default():
    # In a subprocess: importing the in-tree driver registers its options globally.
    output = subprocess.run([sys.executable, '-c', IN_TREE_OPTIONS], check=True,
                            capture_output=True, text=True).stdout
    ours = {opt.dest: opt for opt in options.vmdk_opts}
    for name, kind, default, secret in json.loads(output.splitlines()[-1]):
        assert name in ours, name
        assert (type(ours[name]).__name__, ours[name].default, ours[name].secret) == (
            kind, default, secret), name


def test_sample_config_is_current(tmp_path):
    generated = tmp_path / 'cinder.conf.sample'
    subprocess.run([sys.executable, '-m', 'oslo_config.generator', '--config-file',
                    str(ROOT / 'etc/oslo-config-generator/vmdk-volume.conf'),
                    '--output-file', str(generated)], check=True, cwd=ROOT)
    assert generated.read_text() == (ROOT / 'etc/cinder.conf.sample').read_text(), (
        'etc/cinder.conf.sample is stale: run "tox -e genconfig"')


def _conf(**changes):
    values = {opt.dest: opt.default for opt in options.vmdk_opts}
    values.update(vmware_host_ip='vc.example.org', vmware_host_username='svc-cinder',
                  vmware_host_password='pw')
    values.update(changes)
    return types.SimpleNamespace(**values)


@pytest.mark.parametrize('missing', ['vmware_host_ip', 'vmware_host_username',
                                     'vmware_host_password'])
def test_missing_required_option_is_named(missing):
    with pytest.raises(ConfigError, match=missing):
        BackendConfig.from_options(_conf(**{missing: None}))


def test_config_is_typed():
    config = BackendConfig.from_options(_conf(
        vmware_cluster_name=['c1', 'c2'], vmware_datastore_regex='ssd-.*',
        vmware_adapter_type='paraVirtual'))
    assert config.clusters == ('c1', 'c2')
    assert config.datastore_regex.match('ssd-01')
    assert config.default_adapter == 'paraVirtual'
    assert 'pw' not in repr(config)


def test_connector_config_has_credentials_only_when_enabled():
    assert 'vmware_host_password' not in options.connector_config(_conf())
    with_credentials = options.connector_config(_conf(vmware_connector_credentials=True))
    assert with_credentials['vmware_host_password'] == 'pw'
