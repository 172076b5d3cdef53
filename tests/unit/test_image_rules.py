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

"""Cinder's image options reach the image checks: subformats and qemu-img's limits."""

import subprocess

import pytest
from cinder.image import image_utils
from oslo_concurrency import processutils

from vmdk_volume.core.images import formats
from vmdk_volume.driver import setup

MiB = 1024 ** 2


@pytest.fixture
def overrides():
    names = []

    def override(name, value):
        image_utils.CONF.set_override(name, value)
        names.append(name)
    yield override
    for name in names:
        image_utils.CONF.clear_override(name)


def test_the_rules_are_read_from_cinders_image_options(overrides):
    overrides('vmdk_allowed_types', ['streamOptimized'])
    overrides('image_introspection_cpu_limit', 7)
    overrides('image_introspection_address_space_limit', 3)
    rules = setup.image_rules()
    assert rules.vmdk_types == ('streamOptimized',)
    assert (rules.introspection.cpu_time, rules.introspection.address_space) == (7, 3 * 1024 ** 3)


def test_qemu_img_runs_under_the_configured_limits(tmp_path):
    """An address space too small for qemu-img to start: the inspection fails, so the limit
    was applied (Cinder's defaults let the same image pass)."""
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(bytes(MiB))
    qcow2 = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', str(raw), qcow2],
                   check=True)
    assert formats.probe_file(qcow2).format == 'qcow2'
    tiny = formats.ImageRules(introspection=processutils.ProcessLimits(address_space=8 * MiB))
    with pytest.raises(formats.ImageUnacceptable, match='qemu-img info refused'):
        formats.probe_file(qcow2, tiny)
