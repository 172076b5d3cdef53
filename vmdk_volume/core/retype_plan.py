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


"""What a retype does to a backing, decided from typed facts alone (no vCenter call): the
``Plan`` that ``retype.Mover`` then applies (see ``retype`` for the paths, cheapest first).
"""

import dataclasses

from vmdk_volume.core.backings import Backing
from vmdk_volume.core.volume_type import VolumeProfile
from vmdk_volume.vsphere.disks import AdapterType


class Impossible(Exception):
    """The change cannot be made in place; ``str()`` says why."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """The changes a retype makes, in order: a move to another datastore (converting the
    disk and setting its policy on the way), then one reconfiguration."""

    move: bool                          # relocate (or, if no datastore fits, clone in place)
    convert: bool                       # the disk type changes
    adapter: AdapterType | None         # the disk moves to a new controller of this type
    set_policy: bool                    # the reconfiguration sets the policy (no move)
    drop_policy: bool                   # the move removes the policy the backing had

    @property
    def reconfigures(self) -> bool:
        return self.adapter is not None or self.set_policy


def plan(backing: Backing, new: VolumeProfile, old_policy: str | None,
         compatible: frozenset[str] | None, profile_id: str | None) -> Plan:
    """The plan making ``backing`` what ``new`` asks: ``old_policy`` is the policy name the
    old type gave, ``compatible`` the datastores satisfying the new policy (None: no policy)
    and ``profile_id`` its id. Impossible if no plan can keep the backing's snapshots."""
    policy_changes = new.storage_policy != old_policy
    convert = backing.disk_type is not None and backing.disk_type is not new.disk_type
    adapter = new.adapter_type if backing.adapter_type is not None \
        and backing.adapter_type is not new.adapter_type else None
    if adapter is not None and backing.has_snapshots:
        raise Impossible('the adapter type of a volume with snapshots cannot change: '
                         'reverting to a snapshot would bring the old controller back')
    move = convert or (compatible is not None and backing.datastore not in compatible)
    return Plan(move=move, convert=convert, adapter=adapter,
                set_policy=policy_changes and not move,
                drop_policy=move and policy_changes and not profile_id)


def clone_in_place(plan: Plan, backing: Backing, compatible: frozenset[str] | None,
                   why: str) -> None:
    """Return if a move that found no other datastore (``why``) may clone the backing on
    its own datastore instead (only to convert its disk, where the policy allows, without
    snapshots); else Impossible."""
    in_place = compatible is None or backing.datastore in compatible
    if not (plan.convert and in_place):
        raise Impossible('no datastore for the new type: %s' % why)
    if backing.has_snapshots:
        raise Impossible('the disk type can only change by a clone on datastore %s, which '
                         'would drop the volume\'s snapshots' % backing.datastore_name)


def check_attached(plan: Plan, instance: str) -> None:
    """Return if ``plan`` leaves the disk where the instance ``instance`` holds it (at most a
    new policy on its datastore); else Impossible, naming why and what to do."""
    if plan.move:
        raise Impossible(
            'it is attached to instance %s, which holds its disk: vSphere moves no disk a '
            'running VM holds through another VM (FileLocked), and one the instance has '
            'while off would move from under it; detach the volume, then retype it' % instance)
    if plan.adapter is not None:
        raise Impossible(
            'it is attached to instance %s, which keeps the disk on a controller of its own: '
            'the adapter type changes only on the backing, while detached; detach the '
            'volume, then retype it' % instance)
