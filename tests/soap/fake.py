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

"""A scripted vCenter for requests-mock: the SOAP replies and faults the simulator cannot make.

``ScriptedVCenter`` answers POSTs to ``SOAP_URL`` by method name (the first element of the
SOAP body): replies queued with ``script()`` come first, in order; otherwise a default reply
(service content, login, an active session) or an empty return. Every call is recorded.
"""

import collections
import dataclasses
import xml.etree.ElementTree as ET

import requests
import urllib3

HOST = 'vc.test'
SOAP_URL = 'https://%s:443/sdk' % HOST
_SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/'

_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>'
             '<soapenv:Envelope xmlns:soapenv="%s" '
             'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
             '<soapenv:Body>%%s</soapenv:Body></soapenv:Envelope>' % _SOAP_ENV)

SERVICE_CONTENT = (
    '<rootFolder type="Folder">group-d1</rootFolder>'
    '<propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>'
    '<viewManager type="ViewManager">ViewManager</viewManager>'
    '<about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 7.0.3</fullName>'
    '<vendor>VMware, Inc.</vendor><version>7.0.3</version><build>1</build>'
    '<osType>linux-x64</osType><productLineId>vpx</productLineId><apiType>VirtualCenter'
    '</apiType><apiVersion>7.0.3.0</apiVersion>'
    '<instanceUuid>5f0b9a3c-1d2e-4f60-8a7b-9c0d1e2f3a4b</instanceUuid></about>'
    '<sessionManager type="SessionManager">SessionManager</sessionManager>'
    '<taskManager type="TaskManager">TaskManager</taskManager>'
    '<searchIndex type="SearchIndex">SearchIndex</searchIndex>'
    '<virtualDiskManager type="VirtualDiskManager">virtualDiskManager</virtualDiskManager>')

USER_SESSION = ('<key>52b0-session</key><userName>admin</userName><fullName>admin</fullName>'
                '<loginTime>2026-01-01T00:00:00Z</loginTime>'
                '<lastActiveTime>2026-01-01T00:00:00Z</lastActiveTime>'
                '<locale>en</locale><messageLocale>en</messageLocale>'
                '<extensionSession>false</extensionSession>')


@dataclasses.dataclass(frozen=True)
class Returns:
    """A successful reply: the XML inside ``<returnval>`` (of ``type`` for a moref), or none."""

    returnval: str | None = None
    type: str | None = None

    def render(self, method: str) -> tuple[int, str]:
        attribute = ' type="%s"' % self.type if self.type else ''
        inner = ('' if self.returnval is None
                 else '<returnval%s>%s</returnval>' % (attribute, self.returnval))
        return 200, _ENVELOPE % ('<%sResponse xmlns="urn:vim25">%s</%sResponse>'
                                 % (method, inner, method))


def ref(type_name: str, value: str) -> Returns:
    """A reply returning a managed object reference."""
    return Returns(value, type_name)


@dataclasses.dataclass(frozen=True)
class Fault:
    """A SOAP fault, as vCenter sends it: HTTP 500 with the vim25 fault in the detail."""

    name: str
    message: str
    detail: str = ''

    def render(self, method: str) -> tuple[int, str]:
        body = ('<soapenv:Fault><faultcode>ServerFaultCode</faultcode>'
                '<faultstring>%s</faultstring><detail><%sFault xmlns="urn:vim25" '
                'xsi:type="%s">%s</%sFault></detail></soapenv:Fault>'
                % (self.message, self.name, self.name, self.detail, self.name))
        return 500, _ENVELOPE % body


class Lost:
    """No answer: the connection breaks once the request is sent (vCenter may have run it)."""

    def render(self, method: str) -> tuple[int, str]:
        raise requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
            'Connection aborted.', ConnectionResetError(104, 'Connection reset by peer')))


LOST = Lost()


class Unavailable:
    """HTTP 503 with no SOAP, as vCenter's front end answers while its service is down."""

    def render(self, method: str) -> tuple[int, str]:
        return 503, 'Service Unavailable'


UNAVAILABLE = Unavailable()

NOT_AUTHENTICATED = Fault('NotAuthenticated', 'The session is not authenticated.',
                          '<object type="Folder">group-d1</object>'
                          '<privilegeId>System.View</privilegeId>')


class ScriptedVCenter:
    """Answers oslo.vmware's SOAP calls through a requests-mock ``Mocker``."""

    def __init__(self, requests_mock):
        self.calls: list[str] = []
        self._script: dict[str, collections.deque] = collections.defaultdict(
            collections.deque)
        self._defaults = {
            'RetrieveServiceContent': Returns(SERVICE_CONTENT),
            'Login': Returns(USER_SESSION),
            'SessionIsActive': Returns('true'),
        }
        requests_mock.post(SOAP_URL, text=self._answer)

    def script(self, method: str, *replies: Returns | Fault | Lost | Unavailable) -> None:
        """Queue ``replies`` for the next calls of ``method``."""
        self._script[method].extend(replies)

    def _answer(self, request, context) -> str:
        method = _method_of(request.body)
        self.calls.append(method)
        queued = self._script[method]
        reply = queued.popleft() if queued else self._defaults.get(method, Returns())
        context.status_code, text = reply.render(method)
        context.headers['Content-Type'] = 'text/xml; charset=utf-8'
        return text


def task_update(*changes: tuple[str, str]) -> Returns:
    """A WaitForUpdatesEx reply: task-7 with the (property, value XML) ``changes``."""
    return Returns(
        '<version>1</version><filterSet><filter type="PropertyFilter">filter-1</filter>'
        '<objectSet><kind>enter</kind><obj type="Task">task-7</obj>%s</objectSet>'
        '</filterSet>' % ''.join('<changeSet><name>%s</name><op>assign</op>%s</changeSet>'
                                 % change for change in changes))


def _method_of(body: bytes | str) -> str:
    envelope = ET.fromstring(body)
    payload = envelope.find('{%s}Body' % _SOAP_ENV)[0]
    return payload.tag.rsplit('}', 1)[-1]
