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

"""The two wheels built from this repository: the driver's holds the product only (no
simulator, harness, benchmark or Go file), the simulator kit's holds the kit with its Go
sources and registers the CLI plugins. Built as pip builds them (pbr), in about 10 s."""

import configparser
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOT_PRODUCT = ('simkit', 'harness', 'bench', 'demo', 'vcsim', 'cinder_harness',
               'local_images')


@pytest.fixture(scope='module')
def wheels(tmp_path_factory) -> dict[str, zipfile.ZipFile]:
    out = tmp_path_factory.mktemp('wheels')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '-q', '-w', str(out), str(ROOT), str(ROOT / 'simkit')],
                   check=True, capture_output=True, timeout=300)
    found = {path.name.split('-')[0]: zipfile.ZipFile(path) for path in out.glob('*.whl')}
    assert sorted(found) == ['vmdk_volume', 'vmdk_volume_simkit']
    return found


def _files(wheel: zipfile.ZipFile) -> list[str]:
    return [name for name in wheel.namelist() if '.dist-info/' not in name]


def _entry_points(wheel: zipfile.ZipFile) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    name = next(n for n in wheel.namelist() if n.endswith('.dist-info/entry_points.txt'))
    parser.read_string(wheel.read(name).decode())
    return parser


def test_the_driver_wheel_holds_the_product_only(wheels):
    files = _files(wheels['vmdk_volume'])
    assert 'vmdk_volume/driver/__init__.py' in files
    strays = [name for name in files
              if not (name.startswith('vmdk_volume/') and name.endswith('.py'))]
    assert strays == []
    kit = [name for name in files
           if any(part.removesuffix('.py') in NOT_PRODUCT for part in name.split('/'))]
    assert kit == []


def test_the_driver_wheel_registers_the_driver_its_options_and_command(wheels):
    points = _entry_points(wheels['vmdk_volume'])
    assert dict(points['vmdk_volume.drivers']) == {'vmdk': 'vmdk_volume.driver:VMwareVcVmdkDriver'}
    assert dict(points['oslo.config.opts']) == {
        'vmdk_volume': 'vmdk_volume.driver.options:list_opts'}
    assert dict(points['console_scripts']) == {'vmdk-volume': 'vmdk_volume.cmd.main:main'}
    assert 'vmdk_volume.cli' not in points


def test_the_kit_wheel_carries_its_go_sources_and_the_cli_plugins(wheels):
    files = _files(wheels['vmdk_volume_simkit'])
    go = {name.rsplit('/', 1)[1] for name in files if name.endswith('.go')}
    assert go == {path.name for path in (ROOT / 'simkit/vmdk_volume_simkit/vcsim').glob('*.go')}
    assert all(name.startswith('vmdk_volume_simkit/') for name in files)
    assert dict(_entry_points(wheels['vmdk_volume_simkit'])['vmdk_volume.cli']) == {
        'demo': 'vmdk_volume_simkit.cli:Demo',
        'simulator': 'vmdk_volume_simkit.cli:SimulatorCommand'}
