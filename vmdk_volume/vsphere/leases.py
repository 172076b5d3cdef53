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

"""HttpNfcLease plumbing: import and export leases, their state, URLs and end.

An import lease (``ResourcePool.ImportVApp``) creates a VM from an import spec and accepts its
disks as streamOptimized VMDKs over HTTP; an export lease (``VirtualMachine.ExportVm``) serves
a VM's disks as streamOptimized VMDKs. Either must be ``ready`` before its URLs are used, kept
alive with progress reports, and ended with ``complete`` or ``abort``.
"""

import dataclasses
import time
import urllib.parse

from oslo_log import log as logging

from vmdk_volume.vsphere import errors, properties

LOG = logging.getLogger(__name__)
READY_POLL_S = 0.5


class LeaseFailed(errors.VSphereError):
    """The lease ended in error, or was not ready in time."""


@dataclasses.dataclass(frozen=True)
class DeviceUrl:
    """Where one disk of a lease is read or written."""

    url: str
    target_id: str
    size: int          # bytes, as vCenter estimates them (0 if unknown)


class Lease:
    """One HttpNfcLease of a client."""

    def __init__(self, client, ref):
        self._client = client
        self.ref = ref

    @classmethod
    def import_vm(cls, client, *, config, pool: str, folder: str, host: str) -> 'Lease':
        """Start importing a VM made from ``config`` (a VirtualMachineConfigSpec)."""
        spec = client.create('VirtualMachineImportSpec', configSpec=config)
        ref = client.call('ImportVApp', client.ref('ResourcePool', pool), spec=spec,
                          folder=client.ref('Folder', folder),
                          host=client.ref('HostSystem', host))
        return cls(client, ref)

    @classmethod
    def export_vm(cls, client, vm: str) -> 'Lease':
        """Start exporting the disks of the VM ``vm`` (a moref value)."""
        return cls(client, client.call('ExportVm', client.ref('VirtualMachine', vm)))

    def wait_ready(self, timeout_s: float) -> tuple[str, list[DeviceUrl]]:
        """Wait until the lease is ready; its entity (moref value) and device URLs."""
        deadline = time.monotonic() + timeout_s
        while True:
            props = properties.fetch_one(self._client, self.ref, ['state', 'info', 'error'])
            state = props.get('state')
            if state == 'ready':
                return self._describe(props['info'])
            if state != 'initializing':
                error = props.get('error')
                reason = getattr(error, 'localizedMessage', None) or state
                raise LeaseFailed('NFC lease %s failed: %s' % (self.ref.value, reason))
            if time.monotonic() > deadline:
                raise LeaseFailed('NFC lease %s not ready after %d s'
                                  % (self.ref.value, timeout_s))
            time.sleep(READY_POLL_S)

    def _describe(self, info) -> tuple[str, list[DeviceUrl]]:
        endpoint = self._client.session.endpoint
        urls = [DeviceUrl(url=_with_host(device.url, endpoint.host, endpoint.port),
                          target_id=device.targetId,
                          size=int(getattr(device, 'fileSize', 0) or 0))
                for device in getattr(info, 'deviceUrl', None) or []
                if getattr(device, 'disk', True)]
        return info.entity.value, urls

    def progress(self, percent: int) -> None:
        """Report progress, which also keeps the lease from timing out."""
        self._client.call('HttpNfcLeaseProgress', self.ref, percent=max(0, min(100, percent)))

    def complete(self) -> None:
        """End a successful transfer; LeaseFailed if the lease failed meanwhile (vCenter
        refuses to complete a lease that is not ready, with InvalidState: only then are
        its state and error read)."""
        try:
            self._client.call('HttpNfcLeaseComplete', self.ref)
        except errors.Busy as refused:
            props = properties.fetch_one(self._client, self.ref, ['state', 'error'])
            error = props.get('error')
            reason = getattr(error, 'localizedMessage', None) or refused
            raise LeaseFailed('NFC lease %s is %s, not ready: the transfer failed on the '
                              'vCenter side: %s' % (self.ref.value, props.get('state'),
                                                    reason)) from refused

    def abort(self, reason: str) -> None:
        """End a failed transfer (best effort: a lease already gone is fine)."""
        try:
            fault = self._client.create('LocalizedMethodFault', localizedMessage=reason,
                                        fault=self._client.create('SystemError',
                                                                  reason=reason))
            self._client.call('HttpNfcLeaseAbort', self.ref, fault=fault)
        except errors.VSphereError as error:
            LOG.warning('Could not abort NFC lease %s: %s', self.ref.value, error)


def _with_host(url: str, host: str, port: int) -> str:
    """vCenter writes ``*`` for the address the client connected to (host and port) in
    device URLs; a port written after the ``*`` is kept."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname != '*':
        return url
    address = host if ':' not in host else '[%s]' % host
    netloc = '%s:%d' % (address, parts.port or port)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def session_cookie(client) -> str | None:
    """The ``Cookie`` header value that authenticates NFC requests with the SOAP session."""
    jar = getattr(client.session.vim.client, 'cookiejar', None) or []
    cookies = ['%s=%s' % (c.name, c.value) for c in jar if c.name == 'vmware_soap_session']
    return '; '.join(cookies) or None
