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

"""A fault-injecting HTTPS proxy between a client and the simulator, for the fault suite.

``FaultProxy`` runs a simulator and the proxy in front of it in a process of their own. The
proxy listens on loopback with a self-signed CA certificate of its own (clients verify it with
``ca_file``), reads each request whole, names it (the SOAP method: the first element inside
the Body; ``nfc-upload`` / ``nfc-download`` for NFC transfers) and forwards it to the
simulator, rewriting the simulator's address in answers to its own so NFC device URLs come
back through it. An armed ``Fault`` fires once, on the N-th call of its method after arming:

- NOT_AUTHENTICATED: the session is logged out on the simulator first, so the call meets a
  real NotAuthenticated and the client must log in again;
- RESET: the connection is reset, unanswered; HTTP_503: answered 503;
- LOST_REPLY: forwarded (the simulator does what was asked), then the connection is reset
  instead of answering;
- DELAY: held ``delay_s`` (past the client's timeout), then forwarded all the same;
- TASK_ERROR: forwarded marked so the simulator answers with a task that fails;
- CUT_TRANSFER: an upload reaches the simulator cut at byte ``at_byte``, a download reaches
  the client so cut, then the connection drops;
- RESTART: the simulator is restarted (its inventory lost) before the call is forwarded;
- HOLD: the call is held until ``release``, then forwarded all the same (its client, killed
  meanwhile, never hears the answer); an upload is held once ``at_byte`` bytes reached the
  simulator, a download once they reached the client, and on release the connection drops.
  ``held`` says how many calls are held, so a test can kill the client at that step.
"""

import dataclasses
import datetime
import enum
import http.client
import http.server
import ipaddress
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vmdk_volume_simkit.server import ModelSize, Simulator

FAIL_TASK_HEADER = 'X-Vmdk-Sim-Fail-Task'
CONTROL = '/_faults/'   # GET: the state; POST: arm a fault (JSON) or disarm (empty)
_HOP_BY_HOP = {'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host'}
_METHOD = re.compile(rb'<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)')
_LOGOUT = (b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
           b'"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><Logout xmlns='
           b'"urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout>'
           b'</soapenv:Body></soapenv:Envelope>')


class FaultKind(enum.StrEnum):
    NOT_AUTHENTICATED = 'not-authenticated'
    RESET = 'reset'
    LOST_REPLY = 'lost-reply'
    HTTP_503 = 'http-503'
    DELAY = 'delay'
    TASK_ERROR = 'task-error'
    CUT_TRANSFER = 'cut-transfer'
    RESTART = 'restart'
    HOLD = 'hold'


@dataclasses.dataclass(frozen=True)
class Fault:
    """Do ``kind`` to the ``nth`` call of ``method`` (a SOAP method or nfc-upload/-download)."""

    method: str
    kind: FaultKind
    nth: int = 1
    at_byte: int = 0
    delay_s: float = 2.0


@dataclasses.dataclass
class _Armed:
    fault: Fault
    seen: int = 0
    fired: bool = False


class _Proxy:
    """The proxy's state, in its own process: the simulator behind it and the armed fault."""

    def __init__(self, simulator: Simulator, port: int):
        self.simulator = simulator
        self.host, self.port = '127.0.0.1', port
        self._lock = threading.Condition()
        self._armed: _Armed | None = None
        self._late = 0     # delayed calls still to be forwarded
        self._held = 0     # held calls not released yet
        self._released = False

    def arm(self, fault: Fault | None) -> None:
        with self._lock:
            self._armed = _Armed(fault) if fault else None
            self._released = False

    def state(self) -> dict:
        """Whether the armed fault fired, once the calls it delayed have been forwarded
        (their effects, such as a second VM, belong to the operation that made them), and
        how many calls are held."""
        with self._lock:
            self._lock.wait_for(lambda: not self._late, timeout=60)
            return {'fired': bool(self._armed and self._armed.fired), 'held': self._held}

    def hold(self, then) -> None:
        """Keep a call waiting until ``release``, then do ``then``."""
        with self._lock:
            self._held += 1
            self._lock.notify_all()
            self._lock.wait_for(lambda: self._released)
            self._held -= 1
            self._late += 1
        try:
            then()
        finally:
            with self._lock:
                self._late -= 1
                self._lock.notify_all()

    def release(self) -> None:
        """Let the held calls go on, and wait until they are done."""
        with self._lock:
            self._released = True
            self._lock.notify_all()
            self._lock.wait_for(lambda: not self._held and not self._late, timeout=60)

    def delay(self, seconds: float, forward) -> None:
        """Hold a call for ``seconds``, then ``forward`` it."""
        with self._lock:
            self._late += 1
        try:
            time.sleep(seconds)
            forward()
        finally:
            with self._lock:
                self._late -= 1
                self._lock.notify_all()

    def take(self, method: str) -> Fault | None:
        """The armed fault if this call of ``method`` is the one it fires on."""
        with self._lock:
            armed = self._armed
            if not armed or armed.fired or armed.fault.method != method:
                return None
            armed.seen += 1
            if armed.seen < armed.fault.nth:
                return None
            armed.fired = True
            return armed.fault

    def upstream(self) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cafile=self.simulator.ca_file)
        return http.client.HTTPSConnection(self.simulator.host, self.simulator.port,
                                           context=context, timeout=60)

    def rewrite(self, body: bytes) -> bytes:
        """``body`` with the simulator's address replaced by the proxy's."""
        return body.replace(b'%s:%d' % (self.simulator.host.encode(), self.simulator.port),
                            b'%s:%d' % (self.host.encode(), self.port))

    def restart_simulator(self) -> None:
        self.simulator.stop()
        self.simulator.start()

    def logout(self, headers: dict[str, str]) -> None:
        conn = self.upstream()
        try:
            conn.request('POST', '/sdk', _LOGOUT, headers={
                'Cookie': headers.get('Cookie', ''), 'SOAPAction': 'urn:vim25/7.0',
                'Content-Type': 'text/xml; charset=utf-8'})
            conn.getresponse().read()
        finally:
            conn.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_POST

    def _serve(self) -> None:
        proxy: _Proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if self.path.startswith(CONTROL):
            return self._control(proxy, body)
        fault = proxy.take(_name(self.command, self.path, body))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        kind = fault.kind if fault else None
        if kind is FaultKind.RESET:
            return self._reset()
        if kind is FaultKind.HTTP_503:
            return self._answer(503, 'Service Unavailable', {}, b'service unavailable')
        if kind is FaultKind.LOST_REPLY:
            self._upstream(proxy, headers, body)
            return self._reset()
        if kind is FaultKind.DELAY:
            return proxy.delay(fault.delay_s, lambda: self._forward(proxy, headers, body, None))
        if kind is FaultKind.HOLD:
            return self._hold(proxy, headers, body, fault.at_byte)
        if kind is FaultKind.NOT_AUTHENTICATED:
            proxy.logout(headers)
        elif kind is FaultKind.RESTART:
            proxy.restart_simulator()
        elif kind is FaultKind.TASK_ERROR:
            headers[FAIL_TASK_HEADER] = '1'
        elif kind is FaultKind.CUT_TRANSFER and self.command != 'GET':
            return self._cut_upload(proxy, headers, body, fault.at_byte)
        cut_at = fault.at_byte if kind is FaultKind.CUT_TRANSFER else None
        self._forward(proxy, headers, body, cut_at)

    def _control(self, proxy: _Proxy, body: bytes) -> None:
        if self.path == CONTROL + 'release':
            proxy.release()
        elif self.command == 'POST':
            fields = json.loads(body) if body else None
            proxy.arm(Fault(**dict(fields, kind=FaultKind(fields['kind']))) if fields else None)
        data = json.dumps(proxy.state()).encode()
        self._answer(200, 'OK', {'Content-Type': 'application/json'}, data)

    def _forward(self, proxy: _Proxy, headers: dict, body: bytes,
                 cut_at: int | None) -> None:
        try:
            reply, reply_headers, data = self._upstream(proxy, headers, body)
        except OSError:
            return self._reset()
        if cut_at is not None and self.command == 'GET':
            self._answer(reply.status, reply.reason, reply_headers, data[:cut_at],
                         length=len(data))
            return self._reset()
        try:
            self._answer(reply.status, reply.reason, reply_headers, data)
        except OSError:
            pass    # the client is gone (killed while its call was held)

    def _upstream(self, proxy: _Proxy, headers: dict, body: bytes):
        """Send the request to the simulator: its response, headers to pass on and body."""
        conn = proxy.upstream()
        try:
            conn.request(self.command, self.path, body, headers=headers)
            reply = conn.getresponse()
            data = proxy.rewrite(reply.read())
        finally:
            conn.close()
        return reply, {k: v for k, v in reply.getheaders()
                       if k.lower() not in _HOP_BY_HOP}, data

    def _hold(self, proxy: _Proxy, headers: dict, body: bytes, at: int) -> None:
        """Hold a SOAP call, then forward it; hold a transfer ``at`` bytes in, then drop
        it."""
        if not self.path.startswith('/nfc/'):
            return proxy.hold(lambda: self._forward(proxy, headers, body, None))
        if self.command != 'GET':
            return self._cut_upload(proxy, headers, body, at, proxy.hold)
        try:
            reply, reply_headers, data = self._upstream(proxy, headers, body)
            self._answer(reply.status, reply.reason, reply_headers, data[:at],
                         length=len(data))
        except OSError:
            pass
        proxy.hold(self._reset)

    def _cut_upload(self, proxy: _Proxy, headers: dict, body: bytes, at: int,
                    hold=None) -> None:
        """Send the simulator the first ``at`` bytes of an upload (then ``hold`` the rest
        of the way, if given), and drop both connections."""
        conn = proxy.upstream()
        try:
            conn.putrequest(self.command, self.path, skip_accept_encoding=True)
            for key, value in {**headers, 'Content-Length': str(len(body))}.items():
                conn.putheader(key, value)
            conn.endheaders()
            conn.sock.sendall(body[:at])
            if hold is not None:
                hold(lambda: None)
        finally:
            conn.close()
        self._reset()

    def _answer(self, status: int, reason: str, headers: dict, data: bytes,
                length: int | None = None) -> None:
        self.send_response(status, reason)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(data) if length is None else length))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _reset(self) -> None:
        """Drop the client's connection with a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack('ii', 1, 0))
            self.connection.close()
        except OSError:
            pass


def _name(command: str, path: str, body: bytes) -> str:
    if path.startswith('/nfc/'):
        return 'nfc-download' if command == 'GET' else 'nfc-upload'
    match = _METHOD.search(body)
    return match.group(1).decode() if match else command + ' ' + path


def _tls_context(workdir: pathlib.Path, ca_file: str) -> ssl.SSLContext:
    """A server context with a new self-signed CA certificate for loopback, written as PEM
    to ``ca_file`` (what clients verify the proxy with)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'vmdk-volume fault proxy')])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    pathlib.Path(ca_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = workdir / 'fault-proxy.key'
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca_file, key_file)
    return context


# -- the process and its handle ------------------------------------------------------------

def serve(model: ModelSize, workdir: pathlib.Path) -> None:
    """Start a simulator and the proxy in front of it; print the ready line; serve until
    SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    ca_file = str(workdir / 'fault-proxy.pem')
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    server.daemon_threads = True
    server.socket = _tls_context(workdir, ca_file).wrap_socket(server.socket,
                                                               server_side=True)
    with Simulator(model) as simulator:
        server.proxy = _Proxy(simulator, server.server_address[1])
        print(json.dumps({'port': server.server_address[1], 'ca_file': ca_file}), flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()


class FaultProxy:
    """A simulator behind the fault proxy, in a process of their own (so neither shares a
    process with the client under test); a context manager. Point clients at ``host``,
    ``port`` and ``ca_file``; ``arm`` a fault, then ask whether it ``fired``."""

    host = '127.0.0.1'

    def __init__(self, workdir: pathlib.Path, model: ModelSize | None = None):
        self._workdir = workdir
        self._model = model or ModelSize()
        self._process: subprocess.Popen | None = None
        self.port = 0
        self.ca_file = ''

    def __enter__(self) -> 'FaultProxy':
        self._process = subprocess.Popen(
            [sys.executable, '-m', 'vmdk_volume_simkit.faults', str(self._workdir),
             json.dumps(dataclasses.asdict(self._model))], stdout=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(pathlib.Path(__file__).parents[1])))
        line = self._process.stdout.readline()
        if not line:
            self.__exit__()
            raise RuntimeError('the fault proxy did not start')
        ready = json.loads(line)
        self.port, self.ca_file = ready['port'], ready['ca_file']
        return self

    def __exit__(self, *exc_info) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)
        self._process.stdout.close()

    def arm(self, fault: Fault | None) -> None:
        """Fire ``fault`` once on its N-th call from now (None: no fault)."""
        self._control(json=dataclasses.asdict(fault) if fault else None)

    @property
    def fired(self) -> bool:
        """Whether the armed fault has fired."""
        return self._control()['fired']

    @property
    def held(self) -> int:
        """How many calls a HOLD fault holds now."""
        return self._control()['held']

    def release(self) -> None:
        """Let held calls go on (see ``FaultKind.HOLD``); return once they are done."""
        self._control(path='release', data=b'')

    def _control(self, path: str = '', **kwargs) -> dict:
        url = 'https://%s:%d%s%s' % (self.host, self.port, CONTROL, path)
        reply = requests.request('POST' if kwargs else 'GET', url, verify=self.ca_file,
                                 timeout=30, **kwargs)
        reply.raise_for_status()
        return reply.json()


if __name__ == '__main__':
    model_fields = json.loads(sys.argv[2])
    model_fields['datastore_types'] = tuple(model_fields['datastore_types'])
    serve(ModelSize(**model_fields), pathlib.Path(sys.argv[1]))
