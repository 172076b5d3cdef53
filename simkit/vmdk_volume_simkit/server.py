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

"""Start and stop a local vCenter: our simulator binary serving the generated WSDL.

``Simulator`` is a context manager for tests, benchmarks and ``vmdk-volume demo``. It builds
the binary and the WSDL on first use (both cached), starts the simulator on a free loopback
port over TLS (its certificate written as a PEM file so clients verify it), and reads the
per-method SOAP call counters the simulator keeps.
"""

import dataclasses
import json
import os
import pathlib
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping

import requests

from vmdk_volume_simkit import build, wsdl

START_TIMEOUT_S = 60


@dataclasses.dataclass(frozen=True)
class ModelSize:
    """The inventory the simulator creates (per datacenter, per cluster, per host)."""

    datacenters: int = 1
    clusters: int = 1
    hosts: int = 3
    standalone_hosts: int = 0
    datastores: int = 2
    vms: int = 2
    datastore_types: tuple[str, ...] = ('VMFS', 'NFS', 'vsan')

    def flags(self) -> list[str]:
        return ['-datacenters', str(self.datacenters), '-clusters', str(self.clusters),
                '-hosts', str(self.hosts), '-standalone-hosts', str(self.standalone_hosts),
                '-datastores', str(self.datastores), '-vms', str(self.vms),
                '-datastore-types', ','.join(self.datastore_types)]


@dataclasses.dataclass(frozen=True)
class CallStats:
    """What the simulator counted since its start or last reset."""

    calls: Mapping[str, int]
    nfc_bytes_uploaded: int
    nfc_bytes_downloaded: int

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class SimulatorError(RuntimeError):
    """The simulator did not start or stopped answering."""


class Simulator:
    """A running simulated vCenter (see the module docstring)."""

    def __init__(self, model: ModelSize = ModelSize(), *, tls: bool = True,
                 username: str | None = None, password: str | None = None,
                 task_ms: int = 0, latency_ms: int = 0, nfc_rate: int = 0, port: int = 0,
                 start_timeout_s: float = START_TIMEOUT_S):
        self.model = model
        self._start_timeout_s = start_timeout_s     # big models take minutes to build
        self._port = port       # 0: any free port
        self.tls = tls
        self.username = username
        self.password = password
        self._task_ms = task_ms
        self._latency_ms = latency_ms
        self._nfc_rate = nfc_rate     # bytes/s of each NFC transfer, 0: unpaced
        self._process: subprocess.Popen | None = None
        self._workdir: pathlib.Path | None = None
        self._ready: dict = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> 'Simulator':
        binary = build.ensure_binary()
        wsdl_dir = wsdl.ensure(build.cache_root() / 'wsdl')
        self._workdir = pathlib.Path(tempfile.mkdtemp(prefix='vmdk-vcsim-'))
        command = [str(binary), '-listen', '127.0.0.1:%d' % self._port,
                   '-tls=%s' % str(self.tls).lower(),
                   '-cert-dir', str(self._workdir), '-wsdl-dir', str(wsdl_dir),
                   '-task-ms', str(self._task_ms), '-latency-ms', str(self._latency_ms),
                   '-nfc-rate', str(self._nfc_rate),
                   *self.model.flags()]
        if self.username is not None:
            command += ['-username', self.username, '-password', self.password or '']
        # vcsim makes its datastores' directories in TMPDIR: in the work directory, they go
        # with it even when the simulator dies without removing them.
        with open(self.log_path, 'wb') as log:
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                             start_new_session=True,
                                             env=dict(os.environ, TMPDIR=str(self._workdir)))
        try:
            self._ready = json.loads(self._read_ready_line())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process.stdout.close()
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def kill(self) -> None:
        """End the Go process as a crash would (SIGKILL); its files stay until ``stop``."""
        self._process.kill()
        self._process.wait()

    def __enter__(self) -> 'Simulator':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _read_ready_line(self) -> str:
        deadline = time.monotonic() + self._start_timeout_s
        selector = selectors.DefaultSelector()
        selector.register(self._process.stdout, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                if selector.select(timeout=0.2):
                    line = self._process.stdout.readline()
                    if line:
                        return line.decode()
                if self._process.poll() is not None:
                    break
        finally:
            selector.close()
        raise SimulatorError('the simulator did not start; its log says:\n' + self.log_tail())

    # -- where it is -----------------------------------------------------------------------

    @property
    def log_path(self) -> pathlib.Path:
        return self._workdir / 'vcsim.log'

    def log_tail(self, lines: int = 30) -> str:
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError:
            return '(no log)'

    @property
    def pid(self) -> int:
        """The simulator's process id (its CPU time is in /proc/<pid>/stat)."""
        self.check_alive()
        return self._process.pid

    @property
    def host(self) -> str:
        return self._ready['host']

    @property
    def port(self) -> int:
        return self._ready['port']

    @property
    def url(self) -> str:
        return self._ready['url']

    @property
    def ca_file(self) -> str | None:
        return self._ready['cert'] or None

    @property
    def base_url(self) -> str:
        return self.url.rsplit('/sdk', 1)[0]

    # -- counters and emulation ------------------------------------------------------------

    def stats(self) -> CallStats:
        reply = self._admin('get', '/_sim/stats').json()
        return CallStats(calls=reply['calls'], nfc_bytes_uploaded=reply['nfc_bytes_uploaded'],
                         nfc_bytes_downloaded=reply['nfc_bytes_downloaded'])

    def collectors(self) -> dict[str, int]:
        """The property collectors (CreatePropertyCollector) and filters (CreateFilter) the
        sessions alive hold: ``{'collectors': n, 'filters': n}``."""
        return self._admin('get', '/_sim/collectors').json()

    def reset_stats(self) -> None:
        self._admin('post', '/_sim/stats/reset')

    def configure(self, *, task_ms: int | None = None, latency_ms: int | None = None,
                  nfc_rate: int | None = None) -> None:
        """Change the emulated task duration, per-call latency or NFC rate (bytes per
        second of each transfer begun from now on, 0: unpaced) while running."""
        settings = {'task_ms': task_ms, 'latency_ms': latency_ms, 'nfc_rate': nfc_rate}
        self._admin('post', '/_sim/config',
                    json={k: v for k, v in settings.items() if v is not None})

    def change_datastore(self, name: str, *, unmount_from: tuple[str, ...] = (),
                         mount_on: tuple[str, ...] = (), maintenance: bool | None = None,
                         accessible: bool | None = None, capacity: int | None = None,
                         free_space: int | None = None, uncommitted: int | None = None) -> None:
        """Make a datastore unusable the ways vCenter reports it: unmounted from some
        hosts (by name), in maintenance, or inaccessible; or mounted on hosts again; or
        give it a capacity, free and uncommitted space (bytes) as its summary reports."""
        change = {'name': name, 'unmount_from': list(unmount_from), 'mount_on': list(mount_on),
                  'maintenance': maintenance, 'accessible': accessible, 'capacity': capacity,
                  'free_space': free_space, 'uncommitted': uncommitted}
        self._admin('post', '/_sim/datastore',
                    json={k: v for k, v in change.items() if v is not None})

    def make_pod(self, name: str, datastores: Iterable[str]) -> None:
        """Make a datastore cluster (StoragePod, Storage DRS on) named ``name`` of the
        datastores (names, of one datacenter), as vCenter's CreateStoragePod and
        MoveIntoFolder do."""
        self._admin('post', '/_sim/pod', json={'name': name, 'datastores': list(datastores)})

    def restrict_policy(self, policy: str, datastores: tuple[str, ...] | None) -> None:
        """Make the storage policy named ``policy`` match only ``datastores`` (names), or
        every datastore again with None."""
        self._admin('post', '/_sim/policy', json={
            'policy': policy, 'datastores': None if datastores is None else list(datastores)})

    def deny_privileges(self, privileges: Iterable[str], on: Iterable[str] = ()) -> None:
        """Make HasPrivilegeOnEntities refuse ``privileges`` (vSphere privilege ids) on the
        entities named in ``on``, or on every entity; replaces what an earlier call denied
        (nothing: everything granted again)."""
        entities = list(on) or ['']
        self._admin('post', '/_sim/privileges', json={'deny': [
            {'privilege': p, 'entity': e} for p in privileges for e in entities]})

    def check_alive(self) -> None:
        """Raise SimulatorError, with the end of its log, if the simulator process ended."""
        if self._process is None or self._process.poll() is not None:
            raise SimulatorError('the simulator is not running (exit status %s); its log '
                                 'says:\n%s' % (getattr(self._process, 'returncode', None),
                                                self.log_tail()))

    def _admin(self, method: str, path: str, **kwargs) -> requests.Response:
        self.check_alive()
        reply = requests.request(method, self.base_url + path, verify=self.ca_file or True,
                                 timeout=10, **kwargs)
        reply.raise_for_status()
        return reply
