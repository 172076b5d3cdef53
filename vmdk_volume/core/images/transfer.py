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

"""Streaming HTTP transfers to and from NFC device URLs, bounded and watched.

Bytes pass through in chunks and are never held whole. Every transfer has a deadline
(``vmware_image_transfer_timeout_secs``) and socket timeouts, so a stalled peer fails it
instead of hanging a worker; it logs its progress at INFO with rate and ETA and reports
progress to the lease (which keeps the lease alive). An upload sends exactly the announced
length and reads and checks the response; a download checks the length the server announced.
"""

import contextlib
import dataclasses
import http.client
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator

from oslo_log import log as logging

from vmdk_volume.units import MiB

LOG = logging.getLogger(__name__)
CHUNK = 1024 * 1024
SOCKET_TIMEOUT_S = 60
LOG_EVERY_S = 10
LEASE_EVERY_S = 30


class TransferFailed(RuntimeError):
    """Bytes did not arrive whole, in time, or were refused."""


@dataclasses.dataclass(frozen=True)
class Peer:
    """How to reach NFC URLs: TLS verification and the session cookie."""

    ca_file: str | None = None
    insecure: bool = False
    cookie: str | None = None
    socket_timeout_s: float = SOCKET_TIMEOUT_S

    def connect(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + ('?' + parts.query if parts.query else '')
        if parts.scheme == 'http':
            return http.client.HTTPConnection(parts.hostname, parts.port,
                                              timeout=self.socket_timeout_s), path
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure and not self.ca_file:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(parts.hostname, parts.port, context=context,
                                           timeout=self.socket_timeout_s), path


class Meter:
    """Counts bytes against a deadline, logs progress and feeds the lease."""

    def __init__(self, what: str, total: int, timeout_s: float,
                 on_progress: Callable[[int], None] | None = None):
        self.what, self.total, self.done = what, total, 0
        self._start = time.monotonic()
        self._deadline = self._start + timeout_s
        self._timeout_s = timeout_s
        self._on_progress = on_progress
        self._logged = self._reported = self._start

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now > self._deadline:
            raise TransferFailed('%s did not finish within %d s (vmware_image_transfer_'
                                 'timeout_secs) after %s' % (self.what, self._timeout_s,
                                                             self._amount()))
        if now - self._logged >= LOG_EVERY_S:
            self._logged = now
            LOG.info('%s: %s', self.what, self.summary(now))
        if self._on_progress and now - self._reported >= LEASE_EVERY_S:
            self._reported = now
            self._on_progress(self.percent)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        return self.done / max(time.monotonic() - self._start, 1e-6)

    def _amount(self) -> str:
        if self.total:
            return '%.1f of %.1f MiB' % (self.done / MiB, self.total / MiB)
        return '%.1f MiB' % (self.done / MiB)

    def summary(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._start, 1e-6)
        rate = self.done / elapsed
        text = '%s (%d%%) at %.1f MiB/s' % (self._amount(), self.percent, rate / MiB)
        if self.total and rate > 0:
            text += ', ETA %.0f s' % max(0.0, (self.total - self.done) / rate)
        return text


def coalesce(chunks: Iterable[bytes], size: int = CHUNK) -> Iterator[bytes]:
    """``chunks`` regrouped into pieces of about ``size`` bytes (fewer, larger writes)."""
    pending, held = [], 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b''.join(pending)
            pending, held = [], 0
    if pending:
        yield b''.join(pending)


def from_glance(chunks: Iterable[bytes], image_id: str) -> Iterator[bytes]:
    """``chunks`` of image ``image_id`` from Glance; a failure reading them is a
    TransferFailed that names Glance (not the vCenter they are sent to)."""
    done = 0
    try:
        for chunk in chunks:
            done += len(chunk)
            yield chunk
    except (OSError, http.client.HTTPException) as error:
        raise TransferFailed(
            'image %s: reading its data from Glance failed after %d bytes (%s): check the '
            'image service and its store, then retry; vCenter is not at fault'
            % (image_id, done, error)) from error


def upload(peer: Peer, url: str, chunks: Iterable[bytes], size: int, meter: Meter,
           method: str = 'PUT', source: str = 'the source') -> None:
    """Send exactly ``size`` bytes from ``chunks`` (read from ``source``) to ``url`` and
    check the response."""
    conn, path = peer.connect(url)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader('Content-Type', 'application/x-vnd.vmware-streamVmdk')
        conn.putheader('Content-Length', str(size))
        if peer.cookie:
            conn.putheader('Cookie', peer.cookie)
        conn.endheaders()
        sent = 0
        for chunk in chunks:
            if sent + len(chunk) > size:
                raise TransferFailed('%s: %s has more than the %d bytes announced'
                                     % (meter.what, source, size))
            conn.sock.sendall(chunk)
            sent += len(chunk)
            meter.advance(len(chunk))
        if sent != size:
            raise TransferFailed('%s: %s ended after %d of %d bytes (truncated): the image '
                                 'data is shorter than its size says' % (meter.what, source,
                                                                        sent, size))
        reply = conn.getresponse()
        body = reply.read(64 * 1024)
        if not 200 <= reply.status < 300:
            raise TransferFailed('%s: vCenter answered %s %s with %d %s: %s' % (
                meter.what, method, url, reply.status, reply.reason,
                body.decode(errors='replace').strip()[:200]))
    except (OSError, http.client.HTTPException) as error:
        raise TransferFailed('%s: %s to vCenter (%s) failed after %d bytes: %s; check that '
                             'this host reaches vCenter and its ESXi hosts'
                             % (meter.what, method, url, meter.done, error)) from error
    finally:
        conn.close()


def download(peer: Peer, url: str, meter: Meter) -> Iterator[bytes]:
    """The bytes at ``url``, chunk by chunk; the length the server announced is checked."""
    with open_download(peer, url, meter) as reply:
        yield from reply


class Download:
    """A GET under way: the length its server announced (None if it did not) and, iterated,
    its bytes chunk by chunk, that length checked at the end."""

    def __init__(self, conn: http.client.HTTPConnection, reply: http.client.HTTPResponse,
                 url: str, meter: Meter):
        self._conn, self._reply, self._url, self._meter = conn, reply, url, meter
        announced = reply.getheader('Content-Length') or ''
        self.length = int(announced) if announced.isdigit() else None

    def __iter__(self) -> Iterator[bytes]:
        meter = self._meter
        try:
            while chunk := self._reply.read(CHUNK):
                meter.advance(len(chunk))
                yield chunk
        except (OSError, http.client.HTTPException) as error:
            raise TransferFailed('%s: GET %s failed after %d bytes: %s'
                                 % (meter.what, self._url, meter.done, error)) from error
        finally:
            self.close()
        if self.length is not None and meter.done != self.length:
            raise TransferFailed('%s: received %d of the %d bytes announced'
                                 % (meter.what, meter.done, self.length))

    def close(self) -> None:
        """End the GET; a read under way in another thread returns at once."""
        if self._conn.sock is not None:
            with contextlib.suppress(OSError):
                self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()

    def __enter__(self) -> 'Download':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_download(peer: Peer, url: str, meter: Meter) -> Download:
    """Start a GET of ``url``: its reply's headers are read, its body not yet."""
    conn, path = peer.connect(url)
    try:
        headers = {'Cookie': peer.cookie} if peer.cookie else {}
        conn.request('GET', path, headers=headers)
        reply = conn.getresponse()
        if reply.status != 200:
            raise TransferFailed('%s: GET %s answered %d %s'
                                 % (meter.what, url, reply.status, reply.reason))
        return Download(conn, reply, url, meter)
    except (OSError, http.client.HTTPException) as error:
        conn.close()
        raise TransferFailed('%s: GET %s failed: %s' % (meter.what, url, error)) from error
    except BaseException:
        conn.close()
        raise


def read_head(peer: Peer, url: str, size: int) -> tuple[bytes, int | None]:
    """The first ``size`` bytes at ``url`` (fewer if the file is shorter), asked for with
    a Range header (a server that ignores it is read no further than ``size``), and the
    file's whole length if the server says it."""
    conn, path = peer.connect(url)
    try:
        headers = {'Range': 'bytes=0-%d' % (size - 1)}
        if peer.cookie:
            headers['Cookie'] = peer.cookie
        conn.request('GET', path, headers=headers)
        reply = conn.getresponse()
        if reply.status not in (200, 206):
            raise TransferFailed('GET %s answered %d %s' % (url, reply.status, reply.reason))
        return reply.read(size), _whole_length(reply)
    except (OSError, http.client.HTTPException) as error:
        raise TransferFailed('GET %s failed: %s' % (url, error)) from error
    finally:
        conn.close()


def _whole_length(reply: http.client.HTTPResponse) -> int | None:
    """The length of the whole file a (ranged) reply is part of, if it says."""
    whole = (reply.getheader('Content-Range') or '').rpartition('/')[2]
    if reply.status == 200:
        whole = reply.getheader('Content-Length') or ''
    return int(whole) if whole.isdigit() else None
