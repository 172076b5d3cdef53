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

"""What the driver records in Cinder's ``provider_location``, and what Cinder's in-tree
driver recorded there (its rows stay in operators' databases, see docs/UPSTREAM.md).

Ours: a volume's backing moref value; a snapshot's ``'<kind>:<moref value>'``. In-tree:
nothing for volumes; a template snapshot's inventory path (always with ``/``); nothing for a
COW snapshot (a VM snapshot named after the snapshot) or a snapshot of a volume without
backing. Anything else is refused with an error naming the value and the object.
"""

import dataclasses
import re

from cinder import exception

from vmdk_volume.i18n import _

TEMPLATE, COW = 'template', 'cow'     # '<kind>:<moref value>'
INVENTORY_PATH = 'inventory-path'     # the in-tree driver's template snapshots
_MOREFS = {TEMPLATE: re.compile(r'vm-\d+'), COW: re.compile(r'snapshot-\d+')}   # vCenter's


@dataclasses.dataclass(frozen=True)
class SnapshotLocation:
    kind: str       # TEMPLATE, COW or INVENTORY_PATH
    value: str      # a moref value, or the template's inventory path


def snapshot_location(kind: str, ref: str) -> str:
    return '%s:%s' % (kind, ref)


def parse_snapshot_location(snapshot) -> SnapshotLocation | None:
    """Where the snapshot is recorded to be; None if nothing is recorded (no backing, or an
    in-tree COW snapshot); InvalidSnapshot naming the value if it is not a known form."""
    location = snapshot.provider_location
    if not location:
        return None
    if '/' in location:
        return SnapshotLocation(INVENTORY_PATH, location)
    kind, _, ref = location.partition(':')
    if kind in _MOREFS and _MOREFS[kind].fullmatch(ref):
        return SnapshotLocation(kind, ref)
    raise exception.InvalidSnapshot(
        reason=_("snapshot %s has provider_location %r, which is neither this driver's "
                 "('template:<moref>' or 'cow:<moref>') nor the in-tree driver's (an inventory "
                 'path): not acting on it') % (snapshot.id, location))


def volume_backing(volume) -> str | None:
    """The backing moref value recorded for the volume, None if none (in-tree volumes, lazy
    ones); InvalidVolume naming the value if it is not a moref value."""
    location = volume.provider_location
    if not location:
        return None
    if not _MOREFS[TEMPLATE].fullmatch(location):
        raise exception.InvalidVolume(
            reason=_('volume %s has provider_location %r, which is not a backing moref value '
                     '(this driver records e.g. vm-42; the in-tree driver records nothing): '
                     'not acting on it') % (volume.id, location))
    return location
