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

"""A fault vCenter answers, which the driver handles, is raised to the caller without a
warning from suds or an ERROR with a traceback from oslo.vmware's retry loop in the log."""

import logging

import pytest

from vmdk_volume.vsphere import errors, extensions, specs


def _loud(caplog) -> list[str]:
    return ['%s %s: %s' % (r.levelname, r.name, r.getMessage()) for r in caplog.records
            if r.levelno >= logging.WARNING]


def test_a_gone_vm_is_raised_as_not_found_and_logs_nothing(vsphere, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.NotFound):
        vsphere.call('Destroy_Task', vsphere.ref('VirtualMachine', 'vm-424242'))
    assert _loud(caplog) == []


def test_an_extension_registered_meanwhile_is_raised_by_name_and_logs_nothing(vsphere,
                                                                            caplog):
    extensions.ensure_registered(vsphere, '1.0')    # another node, first
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.Fault) as raised:
        vsphere.call('RegisterExtension', vsphere.content.extensionManager,
                     extension=specs.extension(vsphere, '1.0'))
    assert raised.value.name == 'InvalidArgument'
    extensions.ensure_registered(vsphere, '1.0')
    assert _loud(caplog) == []
