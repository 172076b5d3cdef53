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

"""Which VM and which VM snapshot a recorded moref may be taken for (pure rules)."""

import types

import pytest

from vmdk_volume.core import backings
from vmdk_volume.core.backings import Backing
from vmdk_volume.vsphere import errors

VOLUME = '0b1c2d3e-0000-4000-8000-000000000001'


def _props(**marks):
    options = [types.SimpleNamespace(key=key, value=value) for key, value in marks.items()]
    return {'name': 'volume-x', 'config.extraConfig': types.SimpleNamespace(OptionValue=options)}


def test_a_vm_carrying_the_identity_is_taken():
    backings.check_identity('vm-33', _props(**{backings.VOLUME_ID_KEY: VOLUME, 'other': 'x'}),
                            backings.volume_identity(VOLUME))


@pytest.mark.parametrize('props', [
    _props(**{backings.VOLUME_ID_KEY: 'another-volume'}),
    _props(),
    {'name': 'a VM extraConfig was never set on'},
])
def test_a_vm_carrying_another_identity_or_none_is_refused_naming_both(props):
    with pytest.raises(errors.NotFound, match="vm-33 .*not the one meant.*%s" % VOLUME):
        backings.check_identity('vm-33', props, backings.volume_identity(VOLUME))


def test_a_vm_that_is_gone_is_refused():
    with pytest.raises(errors.NotFound, match='vm-33 is gone'):
        backings.check_identity('vm-33', {}, backings.volume_identity(VOLUME))


def _backing(**snapshots) -> Backing:
    return Backing(ref='vm-1', name='volume-x', vmdk_path='[ds] v/v.vmdk', datastore='ds-1',
                   size_bytes=1, disk_key=2000, datacenter='datacenter-2',
                   snapshots=snapshots)


@pytest.mark.parametrize('snapshots, recorded, expected', [
    ({'snapshot-7': 'snapshot-a'}, 'snapshot-7', 'snapshot-7'),
    # the recorded moref went to another Cinder snapshot: the one of the name is taken
    ({'snapshot-7': 'snapshot-b', 'snapshot-9': 'snapshot-a'}, 'snapshot-7', 'snapshot-9'),
    ({'snapshot-7': 'snapshot-b'}, 'snapshot-7', None),
    ({'snapshot-7': 'clone-c'}, 'snapshot-7', None),
    ({}, 'snapshot-7', None),
    # a managed VM snapshot keeps the name it had
    ({'snapshot-7': 'before upgrade'}, 'snapshot-7', 'snapshot-7'),
])
def test_a_vm_snapshot_is_taken_by_its_name_within_the_checked_backing(snapshots, recorded,
                                                                      expected):
    assert backings.named_snapshot(_backing(**snapshots), 'snapshot-a', recorded) == expected
