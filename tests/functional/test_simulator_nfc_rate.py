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

"""The kit's NFC link rate: with ``nfc_rate`` each NFC transfer (an export's GET, an
import's PUT) runs at that many bytes per second, as the ESXi host carrying it paces it;
unpaced by default. Driven through the driver's own leases and transfers."""

import os
import time
import uuid

import pytest
import requests
from vmdk_volume_simkit import Simulator, SimulatorError

from vmdk_volume.core.images import convert, transfer
from vmdk_volume.vsphere import leases, specs

MiB = 1024 * 1024
RATE = 4 * MiB      # slow enough that the pace, not this machine, sets the time


@pytest.fixture
def stream(tmp_path) -> bytes:
    """A streamOptimized VMDK of 3 MiB of random data (about 3 MiB: it does not
    compress)."""
    (tmp_path / 'disk.raw').write_bytes(os.urandom(3 * MiB))
    convert.to_stream_optimized(str(tmp_path / 'disk.raw'), 'raw', str(tmp_path / 'disk.vmdk'))
    return (tmp_path / 'disk.vmdk').read_bytes()


@pytest.fixture
def paced(simulator):
    simulator.configure(nfc_rate=RATE)
    yield simulator
    simulator.configure(nfc_rate=0)


def _import(vsphere, sim_inventory, simulator, stream: bytes) -> tuple[str, float]:
    """A VM imported over NFC from the VMDK ``stream`` (into an 8 MiB disk), and the
    seconds its upload took, to the reply that the last byte is stored."""
    datastore = next(iter(sim_inventory.datastores.values()))
    datacenter = sim_inventory.datacenters[datastore.datacenter]
    compute = next(iter(sim_inventory.compute_resources.values()))
    config = specs.backing_config(vsphere, name='volume-rate-%s' % uuid.uuid4(),
                                  datastore_name=datastore.name,
                                  disk=specs.DiskSpec(8 * MiB))
    lease = leases.Lease.import_vm(vsphere, config=config, pool=compute.resource_pool,
                                   folder=datacenter.vm_folder, host=compute.hosts[0])
    vm, urls = lease.wait_ready(60)
    meter = transfer.Meter('upload', len(stream), 60)
    start = time.monotonic()
    transfer.upload(_peer(vsphere, simulator), urls[0].url, [stream], len(stream), meter)
    seconds = time.monotonic() - start
    lease.complete()
    return vm, seconds


def _export(vsphere, simulator, vm: str) -> tuple[int, float]:
    """The bytes of the VM's NFC export and the seconds its GET took."""
    lease = leases.Lease.export_vm(vsphere, vm)
    _entity, urls = lease.wait_ready(60)
    start = time.monotonic()
    size = sum(len(chunk) for chunk in transfer.download(
        _peer(vsphere, simulator), urls[0].url, transfer.Meter('export', 0, 60)))
    seconds = time.monotonic() - start
    lease.complete()
    return size, seconds


def _peer(vsphere, simulator) -> transfer.Peer:
    return transfer.Peer(ca_file=simulator.ca_file, cookie=leases.session_cookie(vsphere))


def _within_pace(seconds: float, size: int) -> bool:
    expected = size / RATE
    return 0.95 * expected <= seconds <= 1.5 * expected + 0.5


def test_an_nfc_upload_runs_at_the_rate_set(vsphere, sim_inventory, paced, stream):
    paced.reset_stats()
    vm, seconds = _import(vsphere, sim_inventory, paced, stream)
    vsphere.run('Destroy_Task', vsphere.ref('VirtualMachine', vm))
    assert paced.stats().nfc_bytes_uploaded == len(stream)
    assert _within_pace(seconds, len(stream)), seconds


def test_an_nfc_export_runs_at_the_rate_set_and_unpaced_again_at_zero(
        vsphere, sim_inventory, simulator, stream):
    vm, _seconds = _import(vsphere, sim_inventory, simulator, stream)
    try:
        timings = {}
        for rate in (RATE, 0):
            simulator.configure(nfc_rate=rate)
            size, timings[rate] = _export(vsphere, simulator, vm)
    finally:
        simulator.configure(nfc_rate=0)
        vsphere.run('Destroy_Task', vsphere.ref('VirtualMachine', vm))
    assert _within_pace(timings[RATE], size), timings
    assert timings[0] < size / RATE / 2, timings


def test_a_negative_rate_is_refused_naming_it(simulator):
    with pytest.raises(requests.HTTPError) as refused:
        simulator.configure(nfc_rate=-1)
    assert refused.value.response.status_code == 400
    assert 'nfc_rate -1 is negative' in refused.value.response.text
    with pytest.raises(SimulatorError, match='-nfc-rate -1 is negative'):
        Simulator(nfc_rate=-1).start()
