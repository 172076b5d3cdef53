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

"""Volume-type extra specs (``vmware:*``) parsed into a typed ``VolumeProfile``.

Values are exact, as in the in-tree driver (``Thin`` is not ``thin``), with surrounding
whitespace stripped. Unknown keys are ignored; every invalid value is refused up front,
``vmware:clone_type`` included (in-tree finds a bad one only when it clones).
"""

import dataclasses
import enum
from collections.abc import Mapping

from vmdk_volume.vsphere.disks import AdapterType, DiskType

PREFIX = 'vmware:'


class CloneType(enum.StrEnum):
    """How a volume is cloned (``vmware:clone_type``)."""

    FULL = 'full'
    LINKED = 'linked'


@dataclasses.dataclass(frozen=True)
class VolumeProfile:
    """What a volume type asks of its volumes' backings."""

    disk_type: DiskType
    clone_type: CloneType
    adapter_type: AdapterType
    storage_policy: str | None     # a vCenter storage-policy name


class InvalidExtraSpec(ValueError):
    """An extra spec whose value we cannot honour; the message says what would do."""

    def __init__(self, spec: str, value: str, allowed: tuple[str, ...] = (),
                 expected: str | None = None):
        self.spec, self.value, self.allowed = spec, value, tuple(allowed)
        expected = expected or 'allowed values: %s' % ', '.join(self.allowed)
        super().__init__('volume type extra spec %s=%r is invalid; %s' % (spec, value, expected))


class PolicyNotHere(InvalidExtraSpec):
    """A storage-policy name this vCenter lacks (another backend's vCenter may have it)."""


def parse(extra_specs: Mapping[str, str] | None,
          default_adapter: AdapterType = AdapterType.LSI_LOGIC) -> VolumeProfile:
    """The profile a volume type's extra specs describe; raises InvalidExtraSpec."""
    specs = extra_specs or {}
    return VolumeProfile(
        disk_type=_choice(specs, 'vmdk_type', DiskType, DiskType.THIN),
        clone_type=_choice(specs, 'clone_type', CloneType, CloneType.FULL),
        adapter_type=_choice(specs, 'adapter_type', AdapterType, default_adapter),
        storage_policy=_storage_policy(specs))


def _choice(specs: Mapping[str, str], key: str, kind: type[enum.StrEnum], default):
    spec = PREFIX + key
    if spec not in specs:
        return default
    try:
        return kind(specs[spec].strip())
    except ValueError:
        raise InvalidExtraSpec(spec, specs[spec], tuple(kind)) from None


def _storage_policy(specs: Mapping[str, str]) -> str | None:
    spec = PREFIX + 'storage_profile'
    if spec not in specs:
        return None
    name = specs[spec].strip()
    if not name:
        raise InvalidExtraSpec(spec, specs[spec], expected='expected a storage-policy name')
    return name
