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


"""The retype plan, decided from a backing's facts and the new volume type without vCenter."""

import dataclasses

import pytest

from vmdk_volume.core.backings import Backing
from vmdk_volume.core.retype_plan import Impossible, Plan, check_attached, clone_in_place, plan
from vmdk_volume.core.volume_type import CloneType, VolumeProfile
from vmdk_volume.vsphere.disks import AdapterType, DiskType

BACKING = Backing(ref='vm-1', name='volume-1', vmdk_path='[ds1] volume-1/volume-1.vmdk',
                  datastore='datastore-1', size_bytes=1024 ** 3, disk_key=2000,
                  datacenter='datacenter-2',
                  adapter_type=AdapterType.LSI_LOGIC, disk_type=DiskType.THIN)
THIN = VolumeProfile(DiskType.THIN, CloneType.FULL, AdapterType.LSI_LOGIC, None)
NOTHING = Plan(move=False, convert=False, adapter=None, set_policy=False, drop_policy=False)


def profile(**changes) -> VolumeProfile:
    return dataclasses.replace(THIN, **changes)


def test_a_change_vcenter_does_not_see_does_nothing():
    assert plan(BACKING, profile(clone_type=CloneType.LINKED), None, None, None) == NOTHING


def test_a_new_disk_type_moves_the_backing_converting_its_disk():
    chosen = plan(BACKING, profile(disk_type=DiskType.THICK), None, None, None)
    assert chosen == dataclasses.replace(NOTHING, move=True, convert=True)
    assert not chosen.reconfigures


def test_a_policy_the_datastore_satisfies_is_set_by_a_reconfiguration():
    chosen = plan(BACKING, profile(storage_policy='gold'), None,
                  frozenset({'datastore-1', 'datastore-2'}), 'profile-gold')
    assert chosen == dataclasses.replace(NOTHING, set_policy=True)
    assert chosen.reconfigures


def test_a_policy_the_datastore_does_not_satisfy_moves_the_backing():
    chosen = plan(BACKING, profile(storage_policy='gold'), None, frozenset({'datastore-2'}),
                  'profile-gold')
    assert chosen == dataclasses.replace(NOTHING, move=True)


def test_a_move_for_another_disk_type_drops_a_policy_the_new_type_has_not():
    chosen = plan(BACKING, profile(disk_type=DiskType.EAGER_ZEROED_THICK), 'gold', None, None)
    assert chosen == dataclasses.replace(NOTHING, move=True, convert=True, drop_policy=True)


def test_a_dropped_policy_without_a_move_is_removed_by_a_reconfiguration():
    assert plan(BACKING, THIN, 'gold', None, None) == dataclasses.replace(
        NOTHING, set_policy=True)


def test_a_new_adapter_reconfigures_the_disk_onto_a_new_controller():
    chosen = plan(BACKING, profile(adapter_type=AdapterType.PARA_VIRTUAL), None, None, None)
    assert chosen == dataclasses.replace(NOTHING, adapter=AdapterType.PARA_VIRTUAL)


def test_a_backing_of_unknown_kinds_is_left_as_it_is():
    unknown = dataclasses.replace(BACKING, adapter_type=None, disk_type=None)
    assert plan(unknown, profile(disk_type=DiskType.THICK,
                                 adapter_type=AdapterType.BUS_LOGIC), None, None, None) == NOTHING


def test_the_adapter_of_a_backing_with_snapshots_cannot_change():
    with pytest.raises(Impossible, match='bring the old controller back'):
        plan(dataclasses.replace(BACKING, has_snapshots=True),
             profile(adapter_type=AdapterType.BUS_LOGIC), None, None, None)


def test_a_conversion_finding_no_datastore_may_clone_in_place():
    chosen = plan(BACKING, profile(disk_type=DiskType.THICK), None, None, None)
    assert clone_in_place(chosen, BACKING, None, 'all full') is None
    assert clone_in_place(chosen, BACKING, frozenset({'datastore-1'}), 'all full') is None


@pytest.mark.parametrize('backing, compatible, convert, reason', [
    (BACKING, frozenset({'datastore-2'}), True, 'no datastore for the new type: all full'),
    (BACKING, frozenset({'datastore-2'}), False, 'no datastore for the new type: all full'),
    (dataclasses.replace(BACKING, has_snapshots=True), None, True,
     "clone on datastore ds1, which would drop the volume's snapshots"),
])
def test_a_move_finding_no_datastore_is_impossible_otherwise(backing, compatible, convert,
                                                             reason):
    chosen = dataclasses.replace(NOTHING, move=True, convert=convert)
    with pytest.raises(Impossible) as raised:
        clone_in_place(chosen, backing, compatible, 'all full')
    assert str(raised.value).endswith(reason)


def test_an_attached_volume_takes_a_policy_its_datastore_satisfies():
    chosen = plan(BACKING, profile(storage_policy='gold'), None, frozenset({'datastore-1'}),
                  'profile-gold')
    assert check_attached(chosen, 'vm-7') is None
    assert check_attached(NOTHING, 'vm-7') is None


@pytest.mark.parametrize('changes, compatible, reason', [
    ({'disk_type': DiskType.THICK}, None, 'vSphere moves no disk a running VM holds'),
    ({'storage_policy': 'gold'}, frozenset({'datastore-2'}), 'vSphere moves no disk'),
    ({'adapter_type': AdapterType.PARA_VIRTUAL}, None, 'keeps the disk on a controller'),
], ids=['disk type', 'policy elsewhere', 'adapter'])
def test_an_attached_volume_is_neither_moved_nor_given_a_new_adapter(changes, compatible,
                                                                     reason):
    chosen = plan(BACKING, profile(**changes), None, compatible,
                  'profile-gold' if compatible else None)
    with pytest.raises(Impossible, match=reason) as raised:
        check_attached(chosen, 'vm-7')
    assert str(raised.value).startswith('it is attached to instance vm-7, ')
    assert str(raised.value).endswith('detach the volume, then retype it')
