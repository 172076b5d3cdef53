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

"""Volume-type extra specs → VolumeProfile: defaults, accepted values, refusals."""

import pytest

from vmdk_volume.core import volume_type
from vmdk_volume.core.volume_type import CloneType, InvalidExtraSpec, VolumeProfile
from vmdk_volume.vsphere.disks import AdapterType, DiskType

DEFAULT = VolumeProfile(DiskType.THIN, CloneType.FULL, AdapterType.LSI_LOGIC, None)


@pytest.mark.parametrize('specs, expected', [
    (None, DEFAULT),
    ({}, DEFAULT),
    ({'vmware:vmdk_type': 'thin'}, DEFAULT),
    ({'vmware:vmdk_type': 'thick'},
     VolumeProfile(DiskType.THICK, CloneType.FULL, AdapterType.LSI_LOGIC, None)),
    ({'vmware:vmdk_type': 'eagerZeroedThick'},
     VolumeProfile(DiskType.EAGER_ZEROED_THICK, CloneType.FULL, AdapterType.LSI_LOGIC, None)),
    ({'vmware:clone_type': 'linked'},
     VolumeProfile(DiskType.THIN, CloneType.LINKED, AdapterType.LSI_LOGIC, None)),
    ({'vmware:clone_type': 'full'}, DEFAULT),
    ({'vmware:adapter_type': 'paraVirtual'},
     VolumeProfile(DiskType.THIN, CloneType.FULL, AdapterType.PARA_VIRTUAL, None)),
    ({'vmware:adapter_type': 'ide'},
     VolumeProfile(DiskType.THIN, CloneType.FULL, AdapterType.IDE, None)),
    ({'vmware:storage_profile': 'Gold'},
     VolumeProfile(DiskType.THIN, CloneType.FULL, AdapterType.LSI_LOGIC, 'Gold')),
    ({'vmware:storage_profile': '  vSAN Default Storage Policy '},
     VolumeProfile(DiskType.THIN, CloneType.FULL, AdapterType.LSI_LOGIC,
                   'vSAN Default Storage Policy')),
    ({'vmware:vmdk_type': ' thick\n', 'vmware:clone_type': '\tlinked ',
      'vmware:adapter_type': ' lsiLogicsas '},
     VolumeProfile(DiskType.THICK, CloneType.LINKED, AdapterType.LSI_LOGIC_SAS, None)),
    # Not ours: other drivers' scopes, future vmware: specs, unscoped keys.
    ({'vmware:future_knob': 'x', 'capabilities:foo': 'bar', 'vmdk_type': 'fat',
      'volume_backend_name': 'vmware-1'}, DEFAULT),
], ids=repr)
def test_parse(specs, expected):
    assert volume_type.parse(specs) == expected


@pytest.mark.parametrize('specs, default, expected', [
    ({}, AdapterType.PARA_VIRTUAL, AdapterType.PARA_VIRTUAL),
    ({'vmware:adapter_type': 'busLogic'}, AdapterType.PARA_VIRTUAL, AdapterType.BUS_LOGIC),
])
def test_default_adapter_applies_only_without_the_spec(specs, default, expected):
    assert volume_type.parse(specs, default).adapter_type is expected


ALLOWED_DISKS = ('thin', 'thick', 'eagerZeroedThick')
ALLOWED_ADAPTERS = ('lsiLogic', 'busLogic', 'lsiLogicsas', 'paraVirtual', 'ide')


@pytest.mark.parametrize('spec, value, allowed, message', [
    ('vmware:vmdk_type', 'fat', ALLOWED_DISKS,
     "volume type extra spec vmware:vmdk_type='fat' is invalid; "
     "allowed values: thin, thick, eagerZeroedThick"),
    ('vmware:vmdk_type', 'Thin', ALLOWED_DISKS,
     "volume type extra spec vmware:vmdk_type='Thin' is invalid; "
     "allowed values: thin, thick, eagerZeroedThick"),
    ('vmware:vmdk_type', '', ALLOWED_DISKS,
     "volume type extra spec vmware:vmdk_type='' is invalid; "
     "allowed values: thin, thick, eagerZeroedThick"),
    ('vmware:clone_type', 'linkd', ('full', 'linked'),
     "volume type extra spec vmware:clone_type='linkd' is invalid; "
     "allowed values: full, linked"),
    ('vmware:adapter_type', 'lsilogic', ALLOWED_ADAPTERS,
     "volume type extra spec vmware:adapter_type='lsilogic' is invalid; "
     "allowed values: lsiLogic, busLogic, lsiLogicsas, paraVirtual, ide"),
    ('vmware:storage_profile', '  ', (),
     "volume type extra spec vmware:storage_profile='  ' is invalid; "
     "expected a storage-policy name"),
    ('vmware:storage_profile', '', (),
     "volume type extra spec vmware:storage_profile='' is invalid; "
     "expected a storage-policy name"),
])
def test_invalid_value_is_refused(spec, value, allowed, message):
    with pytest.raises(InvalidExtraSpec) as caught:
        volume_type.parse({spec: value, 'vmware:unrelated': 'ok'})
    error = caught.value
    assert (error.spec, error.value, error.allowed, str(error)) == (spec, value, allowed, message)
    assert isinstance(error, ValueError)
