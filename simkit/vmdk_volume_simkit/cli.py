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

"""The commands this distribution adds to ``vmdk-volume``: ``demo`` and ``simulator``.

Registered in the stevedore namespace ``vmdk_volume.cli`` (setup.cfg): each command has a
``help`` line, ``add_arguments(parser)``, ``run(args)`` returning the exit code, and the
``errors`` reported as one line (their message names the cause and what to fix).
"""

import signal

from vmdk_volume_simkit import build
from vmdk_volume_simkit.server import ModelSize, Simulator, SimulatorError

ERRORS = (SimulatorError, build.BuildError)


class Demo:
    """``vmdk-volume demo``: a volume's lifecycle through Cinder on two simulators."""

    help = "a volume's lifecycle through Cinder on two simulators"
    errors = ERRORS

    def add_arguments(self, parser) -> None:
        parser.add_argument('--keep', action='store_true',
                            help='leave the simulators running at the end, until Ctrl-C')

    def run(self, args) -> int:
        from vmdk_volume_simkit import demo
        return demo.run(keep=args.keep, debug=args.debug)


class SimulatorCommand:
    """``vmdk-volume simulator``: one simulated vCenter until interrupted."""

    help = 'run a simulated vCenter until interrupted'
    errors = ERRORS

    def add_arguments(self, parser) -> None:
        parser.add_argument('--hosts', type=int, default=3, help='hosts per cluster')
        parser.add_argument('--clusters', type=int, default=1)
        parser.add_argument('--datastores', type=int, default=2)
        parser.add_argument('--vms', type=int, default=2, help='VMs per host')
        parser.add_argument('--task-ms', type=int, default=0, help='emulated task duration')
        parser.add_argument('--latency-ms', type=int, default=0, help='added per SOAP call')
        parser.add_argument('--nfc-rate', type=int, default=0,
                            help='bytes per second of each NFC transfer (0: unpaced)')

    def run(self, args) -> int:
        model = ModelSize(clusters=args.clusters, hosts=args.hosts,
                          datastores=args.datastores, vms=args.vms)
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)   # until sigwait takes them
        with Simulator(model, task_ms=args.task_ms, latency_ms=args.latency_ms,
                       nfc_rate=args.nfc_rate) as vc:
            print('vCenter simulator at %s (any username and password)\n\n'
                  'vmware_host_ip = %s\nvmware_host_port = %d\nvmware_ca_file = %s\n\n'
                  'SOAP call counts: %s/_sim/stats\nPress Ctrl-C to stop.'
                  % (vc.url, vc.host, vc.port, vc.ca_file, vc.base_url), flush=True)
            signal.sigwait(stop_signals)
        return 0
