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

"""A vCenter session: oslo.vmware's, with a login that fails fast and says why.

oslo.vmware retries its login forever on connection errors, a certificate it cannot verify
included, so a wrong ``vmware_ca_file`` would hang cinder-volume's start-up. Here the login is
tried ``api_retry_count`` times (``attempts`` times when the caller says, as the driver's
set-up does so that an unreachable vCenter fails it within seconds), TLS and credential
failures are not retried at all, a CA file that does not exist is refused before any
connection, and each failure becomes an exception from ``vsphere.errors`` that names what to
fix. Each login's socket operations time out after ``vmware_api_timeout_secs``, or
``LOGIN_TIMEOUT_S`` when it is unset: a peer that accepts TCP and never answers fails the
login instead of hanging it (later calls keep the configured limit, none if unset: long
property-collector waits must not trip it). Without ``vmware_wsdl_location``, oslo.vmware
fetches the WSDL from vCenter with no time limit: vCenter is asked first, bounded the same way.

Each oslo.vmware service (vim, pbm) is ``prepare``d for what oslo.vmware and suds get wrong:

- suds keeps the reply being parsed in one ``MultiRef`` per binding: two replies parsed at
  once on native threads swap contents (a WaitForUpdatesEx reply read as another call's).
  Each binding gets a ``MultiRef`` that parses one reply at a time.
- suds unmarshals big replies slowly: ``update_sets.RawReplies`` lets the inventory watch
  read its WaitForUpdatesEx replies as plain values.
- oslo.vmware's transport hands suds an HTTP 503 (vCenter's front end without its service
  behind it) as if it were an answer, which fails as unparseable XML and is not retried.
  It is raised as a connection failure instead, which oslo.vmware retries: the call did
  not run. An HTTP 500 (a SOAP fault) it hands over as a 200, for which suds logs a warning
  on every fault; it is reported as suds' own transports do.
- oslo.service's retry loop, which oslo.vmware runs each call in, logs every fault vCenter
  answers at ERROR with a traceback before raising it; ``Client.call`` raises it on as the
  driver's own error, handled or reported by its caller, so that record is dropped.
"""

import dataclasses
import io
import ipaddress
import logging as logging_std
import os
import socket
import ssl
import threading
import time

import requests
from oslo_log import log as logging
from oslo_vmware import api
from oslo_vmware import exceptions as vexc
from suds import transport

from vmdk_volume.vsphere import errors, internals, redact, update_sets

LOG = logging.getLogger(__name__)
MAX_LOGIN_BACKOFF_S = 30
HOSTNAME_MISMATCH = 62      # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH
CERTIFICATE_READ_TIMEOUT_S = 10
LOGIN_TIMEOUT_S = 10


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a vCenter is and how to log in to it."""

    host: str
    username: str
    password: str = dataclasses.field(repr=False)
    port: int = 443
    ca_file: str | None = None
    insecure: bool = False
    wsdl_location: str | None = None
    api_retry_count: int = 10
    timeout_s: float | None = None
    task_poll_interval: float = 2.0
    pool_size: int = 10
    max_objects: int = 100

    @property
    def address(self) -> str:
        return '%s:%d' % (self.host, self.port)


class Session(api.VMwareAPISession):
    """oslo.vmware's API session with a bounded, explained login."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        redact.protect(endpoint.password)
        super().__init__(endpoint.host, endpoint.username, endpoint.password,
                         endpoint.api_retry_count, endpoint.task_poll_interval,
                         port=endpoint.port, wsdl_loc=endpoint.wsdl_location,
                         cacert=endpoint.ca_file, insecure=endpoint.insecure,
                         pool_size=endpoint.pool_size, create_session=False,
                         connection_timeout=endpoint.timeout_s)
        self._attempts = endpoint.api_retry_count + 1

    @property
    def key(self) -> str | None:
        """The current login's session key: it changes when the session is renewed."""
        return internals.session_id(self)

    def login(self, attempts: int | None = None) -> None:
        """Log in, trying ``attempts`` times if given (else ``api_retry_count`` + 1)."""
        if attempts is not None:
            self._attempts = attempts
        try:
            self._create_session()
        finally:
            self._attempts = self.endpoint.api_retry_count + 1

    @property
    def vim(self):
        """oslo.vmware's vim service; before it first fetches the WSDL from vCenter (which
        it does with no time limit), vCenter must answer within ``LOGIN_TIMEOUT_S``."""
        if not internals.has_vim(self) and not self.endpoint.wsdl_location:
            self._probe()
        return api.VMwareAPISession.vim.fget(self)

    def _probe(self) -> None:
        url = 'https://%s/sdk/vimService.wsdl' % self.endpoint.address
        verify = self.endpoint.ca_file or not self.endpoint.insecure
        # The timeout is never None (the option's value, else LOGIN_TIMEOUT_S): bandit's B113
        # cannot tell.
        with requests.get(url, verify=verify, stream=True,  # nosec B113
                          timeout=self.endpoint.timeout_s or LOGIN_TIMEOUT_S):
            pass

    def _create_session(self):
        # oslo's login without its endless RetryDecorator (still under its lock).
        for attempt in range(1, self._attempts + 1):
            try:
                return self._login_once()
            except Exception as error:  # noqa: BLE001 - classified just below
                failure = _explain(error, self.endpoint)
                if not _is_transient(failure) or attempt == self._attempts:
                    raise failure from error
                LOG.warning('Login to vCenter %s failed (attempt %d): %s',
                            self.endpoint.address, attempt, failure)
                time.sleep(min(2 ** attempt, MAX_LOGIN_BACKOFF_S))

    def _login_once(self):
        """One login, its socket operations bounded (see the module docstring)."""
        transport = self.vim.client.options.transport
        internals.set_socket_timeout(transport, self.endpoint.timeout_s or LOGIN_TIMEOUT_S)
        try:
            return internals.login_once(self)
        finally:
            internals.set_socket_timeout(transport, self.endpoint.timeout_s)


def connect(endpoint: Endpoint, attempts: int | None = None) -> Session:
    """Log in to ``endpoint`` (``attempts`` times at most if given) and return the session,
    or raise a ``vsphere.errors`` error."""
    if endpoint.ca_file and not os.path.isfile(endpoint.ca_file):
        raise errors.CertificateNotTrusted(
            'vmware_ca_file %s does not exist or is not a file: it must name the CA bundle '
            'that signed the certificate of vCenter %s' % (endpoint.ca_file, endpoint.address))
    session = Session(endpoint)
    session.login(attempts)
    prepare(session.vim)
    return session


class _OneReplyAtATime(internals.MultiRef):
    """suds' per-binding reply state, used by one thread at a time (parsing only: no
    I/O under the lock)."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def process(self, body):
        with self._lock:
            return super().process(body)


class _HttpStatus(transport.Transport):
    """oslo.vmware's transport, reporting HTTP statuses as suds' own transports do: a 503
    as a connection failure, a 500 (a SOAP fault) as a ``TransportError`` carrying the
    fault, which suds parses without warning that it came with status 200; every other
    attribute (its requests session, cookie jar, options) is the transport's own."""

    def __init__(self, inner: transport.Transport):
        object.__setattr__(self, '_inner', inner)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._inner, name, value)

    def open(self, request):
        return self._inner.open(request)

    def send(self, request):
        reply = self._inner.send(request)
        if reply.code == 503:
            raise requests.exceptions.ConnectionError(
                '%s answered HTTP 503 Service Unavailable' % request.url)
        if reply.code == 500:
            raise transport.TransportError('HTTP 500', 500, io.BytesIO(reply.message))
        return reply


class _HandledFaults(logging_std.Filter):
    """Drops the retry loop's ERROR record (with its traceback) of a fault vCenter answered:
    oslo.vmware raises it to ``Client.call``, which turns it into the driver's own error for
    its caller to handle or report (an ``AlreadyExists`` or a ``ManagedObjectNotFound`` the
    driver expects is no error). Connection failures keep their record."""

    def filter(self, record: logging_std.LogRecord) -> bool:
        failure = record.exc_info[1] if record.exc_info else None
        return not isinstance(failure, vexc.VimException)


_HANDLED_FAULTS = _HandledFaults()
# oslo.service's looping call loggers (oslo_log names them oslo.service.*), by backend
_RETRY_LOOP_LOGGERS = ('oslo.service.backend._common.loopingcall',
                       'oslo.service.backend._threading.loopingcall')


def prepare(service) -> None:
    """Make an oslo.vmware service (vim, pbm) parse concurrent replies safely and retry
    what an HTTP 503 refused, and hand raw replies to whoever asks for them (see the module
    docstring)."""
    options = service.client.options
    if not any(isinstance(p, update_sets.RawReplies) for p in options.plugins):
        options.plugins = [*options.plugins, update_sets.RawReplies()]
    if not isinstance(options.transport, _HttpStatus):
        options.transport = _HttpStatus(options.transport)
    for name in _RETRY_LOOP_LOGGERS:
        logger = logging_std.getLogger(name)
        if _HANDLED_FAULTS not in logger.filters:
            logger.addFilter(_HANDLED_FAULTS)
    for binding in internals.bindings(service):
        if not isinstance(binding.multiref, _OneReplyAtATime):
            binding.multiref = _OneReplyAtATime()


def _is_transient(failure: errors.VSphereError) -> bool:
    return (isinstance(failure, errors.ConnectionFailed)
            and not isinstance(failure, errors.CertificateNotTrusted))


def hostname_mismatch(error: BaseException) -> bool:
    """Whether ``error`` comes of a certificate a trusted CA signed for other names."""
    found = _cause(error, ssl.SSLCertVerificationError)
    return found is not None and found.verify_code == HOSTNAME_MISMATCH


def wrong_name(endpoint: Endpoint) -> str:
    """What is wrong with a trusted certificate not issued for ``endpoint.host``, and the
    fix: the names it is issued for (read with one more TLS handshake)."""
    names = certificate_names(endpoint)
    return ('the certificate of vCenter %s is signed by a trusted CA but issued for %s, not '
            'for %r: set vmware_host_ip to %s' % (
                endpoint.address, ', '.join(names) or 'other names', endpoint.host,
                'one of those names' if names else 'the name in the certificate'))


def certificate_names(endpoint: Endpoint) -> list[str]:
    """The DNS names and IP addresses the certificate of ``endpoint`` is issued for, read
    with its CA verified but not its name ([] if it cannot be read)."""
    context = ssl.create_default_context(cafile=endpoint.ca_file)
    context.check_hostname = False
    try:
        with socket.create_connection((endpoint.host, endpoint.port),
                                      CERTIFICATE_READ_TIMEOUT_S) as raw, \
                context.wrap_socket(raw, server_hostname=endpoint.host) as tls:
            certificate = tls.getpeercert()
    except OSError:
        return []
    return [str(ipaddress.ip_address(value)) if kind == 'IP Address' else value
            for kind, value in certificate.get('subjectAltName', ())
            if kind in ('DNS', 'IP Address')]


def _explain(error: Exception, endpoint: Endpoint) -> errors.VSphereError:
    if hostname_mismatch(error):
        return errors.CertificateNotTrusted(wrong_name(endpoint))
    if _caused_by(error, ssl.SSLError, requests.exceptions.SSLError):
        how = ('the CA file %s' % endpoint.ca_file if endpoint.ca_file
               else "the system's trusted CAs")
        return errors.CertificateNotTrusted(
            'the certificate of vCenter %s could not be verified with %s: set '
            'vmware_ca_file to the CA bundle that signed it (or, only for testing, '
            'vmware_insecure = True); %s' % (endpoint.address, how, _root_cause(error)))
    if isinstance(error, vexc.VimFaultException) and 'InvalidLogin' in error.fault_list:
        return errors.AuthenticationFailed(
            'vCenter %s refused the login of %r: check vmware_host_username and '
            'vmware_host_password' % (endpoint.address, endpoint.username))
    if _caused_by(error, vexc.VimConnectionException, requests.exceptions.ConnectionError,
                  requests.exceptions.Timeout, OSError):
        return errors.ConnectionFailed(
            'vCenter %s (vmware_host_ip, vmware_host_port) could not be reached: %s'
            % (endpoint.address, _root_cause(error)))
    return errors.VSphereError('login to vCenter %s failed: %s'
                               % (endpoint.address, _root_cause(error)))


def _caused_by(error: BaseException, *types: type) -> bool:
    return _cause(error, *types) is not None


def _cause(error: BaseException, *types: type) -> BaseException | None:
    """``error`` or the first exception of ``types`` in what caused it, or None."""
    while error is not None:
        if isinstance(error, types):
            return error
        error = error.__cause__ or error.__context__ or getattr(error, 'cause', None)
    return None


def _root_cause(error: BaseException) -> str:
    while (inner := error.__cause__ or getattr(error, 'cause', None)) is not None:
        error = inner
    return str(error) or type(error).__name__
