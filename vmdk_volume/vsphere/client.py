"""One vCenter, spoken to through one oslo.vmware session: calls, objects, task waits.

Every SOAP call the driver makes goes through ``Client.call``, which turns oslo.vmware's
exceptions into ``vsphere.errors``; tasks are awaited by ``Client.run`` through the
property collector (``tasks.TaskWaiter``), never by sleeping on a poll interval.
"""

from oslo_vmware import exceptions as vexc
from oslo_vmware import vim_util

from vmdk_volume.vsphere import errors, tasks
from vmdk_volume.vsphere import session as vsession


class Client:
    """Calls on one vCenter (see the module docstring)."""

    def __init__(self, session: vsession.Session):
        self.session = session
        self._tasks = tasks.TaskWaiter(self)

    @classmethod
    def connect(cls, endpoint: vsession.Endpoint) -> 'Client':
        return cls(vsession.connect(endpoint))

    @property
    def content(self):
        """The ServiceContent (root folder, managers), read once per session."""
        return self.session.vim.service_content

    def create(self, type_name: str, **fields):
        """A vim25 data object, e.g. ``create('VirtualMachineConfigSpec', name='v')``."""
        value = self.session.vim.client.factory.create('ns0:' + type_name)
        for name, field in fields.items():
            setattr(value, name, field)
        return value

    @staticmethod
    def ref(type_name: str, value: str):
        """A managed object reference."""
        return vim_util.get_moref(value, type_name)

    def call(self, method: str, this, *, service=None, **kwargs):
        """Invoke ``method`` on the managed object ``this``: one SOAP round trip.

        ``service`` is the vim25 service unless another (the policy service) is given.
        """
        try:
            return self.session.invoke_api(service or self.session.vim, method, this,
                                           **kwargs)
        except vexc.VimConnectionException as error:
            raise errors.ConnectionFailed('vCenter %s: %s during %s'
                                          % (self.session.endpoint.address, error.msg,
                                             method)) from error
        except vexc.VimException as error:
            fault = errors.from_oslo(error)
            if fault is None:
                raise errors.VSphereError('%s failed: %s' % (method, error.msg)) from error
            raise fault from error

    def run(self, method: str, this, **kwargs):
        """Start a task with ``method`` and return its result once it succeeded."""
        return self._tasks.wait(self.call(method, this, **kwargs))

    def close(self) -> None:
        self.session.logout()
