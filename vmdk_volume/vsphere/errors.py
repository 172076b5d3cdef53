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

"""Our vSphere exceptions: what went wrong, said so an operator can act on it.

Everything in ``vsphere/`` raises these, never oslo.vmware's or suds' exceptions, so the layers
above handle one family; the Cinder adapter maps them to ``cinder.exception``.
"""

from oslo_vmware import exceptions as vexc

from vmdk_volume.vsphere import internals


class VSphereError(Exception):
    """Base class: a vSphere call failed."""


class ConnectionFailed(VSphereError):
    """vCenter could not be reached (after the configured retries)."""


class ReplyLost(ConnectionFailed):
    """A call that makes something each time it runs was sent, but its answer was lost: vCenter
    may or may not have done it, so it is not repeated blindly (``Client.call``)."""


class CertificateNotTrusted(ConnectionFailed):
    """TLS verification of the vCenter certificate failed."""


class AuthenticationFailed(VSphereError):
    """vCenter refused the configured credentials."""


class Fault(VSphereError):
    """vCenter answered a call or a task with a vim25 fault (``name``, e.g. NoDiskSpace)."""

    def __init__(self, name: str, message: str, details: dict | None = None):
        super().__init__('%s: %s' % (name, message))
        self.name, self.message = name, message
        self.details = details or {}


class NotFound(Fault):
    """The object or file does not exist (any more)."""


class AlreadyExists(Fault):
    """An object or file of that name exists already."""

    @property
    def holder(self) -> str | None:
        """The moref value of the object holding the name, if vCenter named it
        (DuplicateName, as a task's fault or as a call's)."""
        fault = self.details.get('fault')
        held = getattr(fault, 'object', None) if fault is not None else self.details.get('object')
        return getattr(held, 'value', held) or None


class NoDiskSpace(Fault):
    """The datastore has too little free space."""


class Busy(Fault):
    """The object is in a state, or has a task, that forbids the operation."""


_BY_NAME = {
    'ManagedObjectNotFound': NotFound, 'FileNotFound': NotFound, 'NotFound': NotFound,
    'DuplicateName': AlreadyExists, 'AlreadyExists': AlreadyExists,
    'FileAlreadyExists': AlreadyExists,
    'NoDiskSpace': NoDiskSpace, 'InsufficientDisk': NoDiskSpace,
    'TaskInProgress': Busy, 'InvalidPowerState': Busy, 'InvalidState': Busy,
    'FileLocked': Busy,
}
_NAME_OF_OSLO_CLASS = {cls: name for name, cls in internals.fault_classes().items()}


def fault(name: str, message: str, details: dict | None = None) -> Fault:
    """The ``Fault`` subclass for a vim25 fault name."""
    return _BY_NAME.get(name, Fault)(name, message, details)


def from_oslo(error: vexc.VimException) -> Fault | None:
    """Our fault for an exception oslo.vmware raised from a call, or None if not a fault."""
    if isinstance(error, vexc.VimFaultException) and error.fault_list:
        return fault(error.fault_list[0], error.msg, error.details)
    name = _NAME_OF_OSLO_CLASS.get(type(error))
    return fault(name, error.msg, getattr(error, 'details', None)) if name else None


def from_task_error(localized_fault) -> Fault:
    """Our fault for a task's ``info.error`` (a LocalizedMethodFault)."""
    name = type(localized_fault.fault).__name__
    message = getattr(localized_fault, 'localizedMessage', None) or name
    return fault(name, message, {'fault': localized_fault.fault})
