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

"""One vCenter, spoken to through one oslo.vmware session: calls, objects, task waits.

Every SOAP call the driver makes goes through ``Client.call``, which turns oslo.vmware's
exceptions into ``vsphere.errors``; tasks are awaited by ``Client.run`` through the
property collector (``tasks.TaskWaiter``), never by sleeping on a poll interval. Strings
given to ``create`` and ``call`` are made valid XML 1.0 (``xml_text``): a user's snapshot
description or project id with a control character cannot break the request.
"""

import requests
import urllib3
from oslo_vmware import exceptions as vexc
from oslo_vmware import vim_util

from vmdk_volume.vsphere import errors, tasks, xml_text
from vmdk_volume.vsphere import session as vsession

# Calls that make something each time they run: oslo.vmware would repeat one whose answer was
# lost, making a second VM or snapshot; these raise ``errors.ReplyLost`` instead and the caller
# reconciles (``backings``).
MAKING_CALLS = frozenset({'CreateVM_Task', 'CloneVM_Task', 'ImportVApp', 'CreateSnapshot_Task'})


class Client:
    """Calls on one vCenter (see the module docstring)."""

    def __init__(self, session: vsession.Session):
        self.session = session
        self._tasks = tasks.TaskWaiter(self)

    @classmethod
    def connect(cls, endpoint: vsession.Endpoint, attempts: int | None = None) -> 'Client':
        """A client logged in to ``endpoint`` (see ``session.connect``)."""
        return cls(vsession.connect(endpoint, attempts))

    @property
    def content(self):
        """The ServiceContent (root folder, managers), read once per session."""
        return self.session.vim.service_content

    def create(self, type_name: str, **fields):
        """A vim25 data object, e.g. ``create('VirtualMachineConfigSpec', name='v')``."""
        value = self.session.vim.client.factory.create('ns0:' + type_name)
        for name, field in fields.items():
            setattr(value, name, xml_text.valid_value(field))
        return value

    @staticmethod
    def ref(type_name: str, value: str):
        """A managed object reference."""
        return vim_util.get_moref(value, type_name)

    def call(self, method: str, this, *, service=None, **kwargs):
        """Invoke ``method`` on the managed object ``this``: one SOAP round trip.

        ``service`` is the vim25 service unless another (the policy service) is given.
        """
        service = service or self.session.vim
        kwargs = {name: xml_text.valid_value(value) for name, value in kwargs.items()}
        try:
            return self.session.invoke_api(
                _SentOnce(service) if method in MAKING_CALLS else service, method, this,
                **kwargs)
        except _Unanswered as error:
            raise errors.ReplyLost('vCenter %s: the answer to %s was lost (%s)'
                                   % (self.session.endpoint.address, method,
                                      error.cause)) from error
        except vexc.VimConnectionException as error:
            raise errors.ConnectionFailed('vCenter %s: %s during %s'
                                          % (self.session.endpoint.address, error.msg,
                                             method)) from error
        except vexc.VimException as error:
            fault = errors.from_oslo(error)
            if fault is None:
                raise errors.VSphereError('%s failed: %s' % (method, error.msg)) from error
            raise fault from error

    def current_time(self):
        """vCenter's clock (a datetime): one CurrentTime call."""
        return self.call('CurrentTime', self.ref('ServiceInstance', 'ServiceInstance'))

    def long_poll_s(self, seconds: float) -> int:
        """The maxWaitSeconds for a WaitForUpdatesEx meant to wait ``seconds``: at most half
        the time limit of a call (``vmware_api_timeout_secs``), at least 1."""
        limit = self.session.endpoint.timeout_s
        return max(1, int(min(seconds, limit / 2) if limit else seconds))

    def watch_tasks(self) -> None:
        """Make the task waits' collector now (two calls), not at the first wait."""
        self._tasks.watch()

    def run(self, method: str, this, **kwargs):
        """Start a task with ``method`` and return its result once it succeeded."""
        return self._tasks.wait(self.call(method, this, **kwargs))

    def close(self) -> None:
        self.session.logout()


class _Unanswered(vexc.VimException):
    """A call was sent and no answer came: not one oslo.vmware's retry repeats."""


class _SentOnce:
    """A service whose calls oslo.vmware repeats only if they never reached vCenter (the
    connection could not be made); a call that was sent and got no answer raises
    ``_Unanswered``. A lost session (NotAuthenticated: vCenter refused the call) is still
    renewed and the call repeated by oslo.vmware."""

    def __init__(self, service):
        self._service = service

    def __getattr__(self, method: str):
        call = getattr(self._service, method)

        def once(*args, **kwargs):
            try:
                return call(*args, **kwargs)
            except vexc.VimConnectionException as error:
                if _was_sent(error.cause):
                    raise _Unanswered(error.msg, error.cause) from error
                raise
        return once


def _was_sent(cause) -> bool:
    """Whether a requests failure happened after the request went out: the answer timed out,
    or the connection broke while it was awaited."""
    if isinstance(cause, requests.exceptions.ReadTimeout):
        return True
    if not isinstance(cause, requests.exceptions.ConnectionError) or not cause.args:
        return False
    failure = cause.args[0]
    if isinstance(failure, urllib3.exceptions.MaxRetryError):
        failure = failure.reason
    return isinstance(failure, urllib3.exceptions.ProtocolError)
