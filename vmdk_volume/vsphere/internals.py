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


"""The private internals of oslo.vmware and suds this driver relies on, and only here.

Each has a reason, given where it is used; ``tests/unit/test_internals.py`` fails if one
disappears, and requirements.txt bounds both libraries to the releases proven with them.

- ``VMwareAPISession._create_session``: oslo.vmware's login, which its ``invoke_api`` calls
  again to renew a lost session. ``session.Session`` overrides it (a login tried a bounded
  number of times) and runs the original without its endless retry (``login_once``).
- ``VMwareAPISession._session_id`` and ``_vim``: the session key, and whether the vim
  service (and its WSDL) was made yet.
- ``RequestsTransport._connection_timeout``: the socket time limit of oslo.vmware's
  transport, bounded during a login only.
- ``oslo_vmware.exceptions._fault_classes_registry``: the exception class oslo.vmware raises
  per vim25 fault name, read backwards to name the fault of an exception.
- suds' ``MultiRef`` and each binding's ``multiref``: the state of the reply being parsed,
  which suds shares between threads (``session.prepare``).
"""

from collections.abc import Iterator, Mapping

from oslo_vmware import api
from oslo_vmware import exceptions as vexc
from suds.bindings import multiref

MultiRef = multiref.MultiRef


def login_once(session: api.VMwareAPISession):
    """oslo.vmware's login without its retry decorator (still under its lock)."""
    return api.VMwareAPISession._create_session.__wrapped__(session)


def session_id(session: api.VMwareAPISession) -> str | None:
    return session._session_id


def has_vim(session: api.VMwareAPISession) -> bool:
    """Whether the session made its vim service (and read the WSDL) yet."""
    return session._vim is not None


def set_socket_timeout(transport, seconds: float | None) -> None:
    """Set the time limit of each socket operation of an oslo.vmware transport."""
    transport._connection_timeout = seconds


def fault_classes() -> Mapping[str, type]:
    """vim25 fault name -> the exception class oslo.vmware raises for it."""
    return vexc._fault_classes_registry


def bindings(service) -> Iterator:
    """The input and output bindings of every method of an oslo.vmware service's WSDL."""
    for wsdl_service in service.client.wsdl.services:
        for port in wsdl_service.ports:
            for method in port.methods.values():
                yield from (b for b in (method.binding.input, method.binding.output) if b)
