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

"""The inventory watch at scale: the CPU and calls of its first read, of a refresh with
nothing changed and of one with one datastore changed, on inventories of one cluster of
HOSTS hosts sharing DATASTORES datastores (every datastore mounted on every host).

    python -m tools.bench.inventory [--sizes 32x200 128x1000] [--repeat 5]

CPU is this process's (``time.process_time``): the driver's cost in cinder-volume, not the
simulator's. A refresh's figures are the median of ``--repeat`` runs.
"""

import argparse
import statistics
import sys
import time

from vmdk_volume_simkit import ModelSize, Simulator

from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import inventory_watch
from vmdk_volume.vsphere import session as vsession

SIZES = ('32x200', '128x1000')
START_TIMEOUT_S = 1200       # the simulator builds 128 x 1000 in about 3 minutes
GiB = 1024 ** 3


def measure(vc: Simulator, operation) -> tuple[float, float, int, object]:
    """CPU and wall seconds, SOAP calls and result of ``operation()``."""
    vc.reset_stats()
    cpu, wall = time.process_time(), time.perf_counter()
    result = operation()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, vc.stats().total, result


def run_size(hosts: int, datastores: int, repeat: int) -> list[tuple[str, float, float, int]]:
    """Rows (case, CPU s, wall s, calls) for one inventory size."""
    with Simulator(ModelSize(hosts=hosts, datastores=datastores, vms=0),
                   start_timeout_s=START_TIMEOUT_S) as vc:
        client = vclient.Client(vsession.connect(vsession.Endpoint(
            host=vc.host, port=vc.port, username='admin', password='secret',
            ca_file=vc.ca_file)))
        watch = inventory_watch.InventoryWatch(client)
        try:
            cpu, wall, calls, known = measure(vc, watch.refresh)
            rows = [('first read', cpu, wall, calls)]
            runs = [measure(vc, lambda: watch.refresh(known)) for _ in range(repeat)]
            rows.append(('refresh, nothing changed', *_median(runs)))
            store = next(iter(known.datastores.values()))
            runs = []
            for i in range(repeat):
                vc.change_datastore(store.name, free_space=store.free_space - (i + 1) * GiB)
                runs.append(measure(vc, lambda: watch.refresh(known)))
            rows.append(('refresh, one datastore changed', *_median(runs)))
        finally:
            watch.close()
            client.close()
    return rows


def _median(runs) -> tuple[float, float, int]:
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            max(r[2] for r in runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench.inventory',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', nargs='+', default=list(SIZES),
                        help='HOSTSxDATASTORES (default: %s)' % ' '.join(SIZES))
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args(argv)
    print('%-10s %-32s %8s %8s %6s' % ('size', 'case', 'CPU s', 'wall s', 'calls'))
    for size in args.sizes:
        hosts, datastores = (int(n) for n in size.split('x'))
        for case, cpu, wall, calls in run_size(hosts, datastores, args.repeat):
            print('%-10s %-32s %8.3f %8.3f %6d' % (size, case, cpu, wall, calls), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
