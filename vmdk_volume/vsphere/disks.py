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

"""Virtual disk kinds as vSphere names them: provisioning types and controller adapters."""

import enum


class DiskType(enum.StrEnum):
    """How a VMDK is provisioned (``vmware:vmdk_type``)."""

    THIN = 'thin'
    THICK = 'thick'
    EAGER_ZEROED_THICK = 'eagerZeroedThick'

    @property
    def thin_provisioned(self) -> bool:
        return self is DiskType.THIN

    @property
    def eagerly_scrub(self) -> bool:
        return self is DiskType.EAGER_ZEROED_THICK


class AdapterType(enum.StrEnum):
    """The controller a volume's disk hangs off (``vmware:adapter_type``)."""

    LSI_LOGIC = 'lsiLogic'
    BUS_LOGIC = 'busLogic'
    LSI_LOGIC_SAS = 'lsiLogicsas'
    PARA_VIRTUAL = 'paraVirtual'
    IDE = 'ide'

    @property
    def controller_type(self) -> str:
        """The vim25 VirtualController subtype for this adapter."""
        return _CONTROLLERS[self]


_CONTROLLERS = {
    AdapterType.LSI_LOGIC: 'VirtualLsiLogicController',
    AdapterType.BUS_LOGIC: 'VirtualBusLogicController',
    AdapterType.LSI_LOGIC_SAS: 'VirtualLsiLogicSASController',
    AdapterType.PARA_VIRTUAL: 'ParaVirtualSCSIController',
    AdapterType.IDE: 'VirtualIDEController',
}
