"""vmdk-volume: the operator's and developer's command line.

``vmdk-volume simulator`` runs a local vCenter from the simulator kit until interrupted and
prints what a ``cinder.conf`` backend section needs to use it.
"""

import argparse
import signal
import sys

from vmdk_volume.simkit import ModelSize, Simulator, SimulatorError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='vmdk-volume', description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    sim = commands.add_parser('simulator', help='run a simulated vCenter until interrupted')
    sim.add_argument('--hosts', type=int, default=3, help='hosts per cluster')
    sim.add_argument('--clusters', type=int, default=1)
    sim.add_argument('--datastores', type=int, default=2)
    sim.add_argument('--vms', type=int, default=2, help='VMs per host')
    sim.add_argument('--task-ms', type=int, default=0, help='emulated task duration')
    sim.add_argument('--latency-ms', type=int, default=0, help='added per SOAP call')
    args = parser.parse_args(argv)
    try:
        return _simulator(args)
    except (SimulatorError, build.BuildError) as error:
        print('vmdk-volume: %s' % error, file=sys.stderr)
        return 1


def _simulator(args) -> int:
    model = ModelSize(clusters=args.clusters, hosts=args.hosts, datastores=args.datastores,
                      vms=args.vms)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)   # until sigwait takes them
    with Simulator(model, task_ms=args.task_ms, latency_ms=args.latency_ms) as vc:
        print('vCenter simulator at %s (any username and password)\n\n'
              'vmware_host_ip = %s\nvmware_host_port = %d\nvmware_ca_file = %s\n\n'
              'SOAP call counts: %s/_sim/stats\nPress Ctrl-C to stop.'
              % (vc.url, vc.host, vc.port, vc.ca_file, vc.base_url), flush=True)
        signal.sigwait(stop_signals)
    return 0


if __name__ == '__main__':
    sys.exit(main())
