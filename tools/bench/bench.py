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

"""Benchmark: what each driver operation costs on vCenter, in wall time and SOAP calls.

``python -m tools.bench.bench`` (``tox -e bench``) starts the simulator with an emulated task
duration (300 ms) and per-call latency (20 ms), builds the driver as cinder-volume does (a
backend section of Cinder's configuration, coordination started) and measures each scenario
on a small inventory and on a large one (32 hosts, 200 datastores, ~500 VMs): the median wall
time, the SOAP calls by method and the bytes moved over NFC, next to issue 7's targets.
``--json PATH`` writes the results too.

A scenario is a name, a target, and a function that prepares what the operation needs (not
measured) and returns the operation to measure. Every scenario but the first start-up runs
once unmeasured first, so the driver is warm (its project folder, task watch and inventory
known), as on a running service. An operation the driver raises NotImplementedError for is
reported as not implemented yet.
"""

import argparse
import dataclasses
import functools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from vmdk_volume_simkit import ModelSize, Simulator
from vmdk_volume_simkit.harness.glance import LocalImages

PROJECT_ID = 'b3e5c7d9a1f24e6b8c0d2f4a6b8c0d2e'
CONNECTOR = {'host': 'compute-1', 'ip': '10.0.0.5', 'initiator': None}
IMAGE_MIB = 64
MODELS = {'small': ModelSize(hosts=3, datastores=3),
          'large': ModelSize(hosts=32, datastores=200, vms=16)}   # 512 VMs


@dataclasses.dataclass(frozen=True)
class Target:
    """Issue 7's bound on an operation: at most this many calls and seconds."""

    calls: int | None = None
    seconds: float | None = None

    def met(self, calls: int, seconds: float) -> bool | None:
        if self.calls is None and self.seconds is None:
            return None
        return ((self.calls is None or calls <= self.calls)
                and (self.seconds is None or seconds <= self.seconds))

    def __str__(self) -> str:
        parts = ['<=%d calls' % self.calls] if self.calls is not None else []
        parts += ['<=%.2f s' % self.seconds] if self.seconds is not None else []
        return ', '.join(parts)


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    prepare: Callable[['Bench'], Callable[[], object]]   # returns the measured operation
    target: Target = Target()
    warm_up: bool = True


@dataclasses.dataclass(frozen=True)
class Result:
    model: str
    scenario: str
    seconds: float | None            # median wall time; None if not implemented
    calls: dict[str, int]
    nfc_bytes: int
    target: str
    met: bool | None

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class Bench:
    """One simulated vCenter, a warm driver on it, and what scenarios leave to clean up."""

    def __init__(self, vc: Simulator, name: str):
        from cinder import context
        self.vc = vc
        self.group = 'bench-%s' % name
        self.context = context.get_admin_context()
        self._cleanups: list[Callable[[], object]] = []
        self.driver = self.instance = None
        self._workdir = tempfile.TemporaryDirectory(prefix='vmdk-bench-images-')
        self._images: dict[int, pathlib.Path] = {}

    def ready(self) -> None:
        """Start the driver the warm scenarios share and choose the instance to attach to."""
        self.driver = self.start_driver()
        self.instance = self._an_instance()

    def close(self) -> None:
        self.clean_up()
        self.driver._backend.close()
        self._workdir.cleanup()

    @functools.cached_property
    def glance(self) -> LocalImages:
        """The image service the image scenarios read from (files in the work directory)."""
        return LocalImages(pathlib.Path(self._workdir.name) / 'glance')

    def image_file(self, mib: int) -> pathlib.Path:
        """A streamOptimized VMDK of ``mib`` MiB of random data (made once)."""
        if mib not in self._images:
            raw = pathlib.Path(self._workdir.name) / ('%d.raw' % mib)
            with open(raw, 'wb') as out:
                for _ in range(mib):
                    out.write(os.urandom(1024 * 1024))
            vmdk = raw.with_suffix('.vmdk')
            subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                            'subformat=streamOptimized', str(raw), str(vmdk)], check=True)
            raw.unlink()
            self._images[mib] = vmdk
        return self._images[mib]

    def new_driver(self):
        """A driver for this backend section, as VolumeManager builds it."""
        from cinder.volume import configuration, manager
        from oslo_config import cfg

        from vmdk_volume.driver import VMwareVcVmdkDriver
        conf = configuration.Configuration(manager.volume_backend_opts,
                                           config_group=self.group)
        driver = VMwareVcVmdkDriver(configuration=conf)    # registers the vmware_* options
        for name, value in dict(vmware_host_ip=self.vc.host, vmware_host_port=self.vc.port,
                                vmware_host_username='admin', vmware_host_password='secret',
                                vmware_ca_file=self.vc.ca_file,
                                volume_backend_name=self.group).items():
            cfg.CONF.set_override(name, value, group=self.group)
        return driver

    def start_driver(self):
        """VolumeManager.init_host's calls into the driver, up to its first stats."""
        driver = self.new_driver()
        driver.do_setup(self.context)
        driver.check_for_setup_error()
        driver.get_volume_stats(refresh=True)
        return driver

    def _an_instance(self) -> str:
        """A VM of the simulator's inventory to attach volumes to (its moref value)."""
        from vmdk_volume.vsphere import inventory
        items = inventory.virtual_machines(self.driver._backend.client, ['config.template'])
        return next(item.value for item in items if not item.get('config.template'))

    def defer(self, cleanup: Callable[[], object]) -> None:
        self._cleanups.append(cleanup)

    def clean_up(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()

    def volume(self, size_gb: int = 1, clean_up: bool = True):
        """A lazy volume as Cinder created it (no backing), deleted at clean-up unless the
        operation measured deletes it."""
        from cinder import objects
        from oslo_utils import uuidutils
        volume = objects.Volume(context=self.context, id=uuidutils.generate_uuid(),
                                size=size_gb, project_id=PROJECT_ID, status='available',
                                volume_type=None, provider_location=None, _name_id=None,
                                volume_attachment=objects.VolumeAttachmentList())
        if clean_up:
            self.defer(lambda: self.driver.delete_volume(volume))
        return volume

    def attach(self, volume, driver=None) -> None:
        """VolumeManager.initialize_connection's calls (on ``driver`` if given, else the
        warm one): create_export, then the info."""
        driver = driver or self.driver
        connector = dict(CONNECTOR, instance=self.instance)
        update = driver.create_export(self.context, volume, connector)
        volume.update(update or {})
        driver.initialize_connection(volume, connector)

    def backed_volume(self, clean_up: bool = True):
        volume = self.volume(clean_up=clean_up)
        self.attach(volume)
        return volume

    def snapshot(self, volume, take: bool = True):
        """A snapshot of ``volume``, taken unless ``take`` is False; deleted at clean-up."""
        from cinder import objects
        from oslo_utils import uuidutils
        snapshot = objects.Snapshot(context=self.context, id=uuidutils.generate_uuid(),
                                    volume=volume, volume_id=volume.id,
                                    volume_size=volume.size, display_description='bench',
                                    provider_location=None)
        if take:
            snapshot.update(self.driver.create_snapshot(snapshot) or {})
        self.defer(lambda: self.driver.delete_snapshot(snapshot))
        return snapshot

    def measure(self, operation: Callable[[], object]) -> tuple[float, dict, int]:
        """Run ``operation``: its wall time, SOAP calls by method and NFC bytes."""
        self.vc.reset_stats()
        start = time.perf_counter()
        operation()
        seconds = time.perf_counter() - start
        stats = self.vc.stats()
        return seconds, dict(stats.calls), stats.nfc_bytes_uploaded + stats.nfc_bytes_downloaded


def _updating(target, operation: Callable[[], dict | None]) -> Callable[[], None]:
    """``operation``, with its model update saved on ``target`` as Cinder would."""
    return lambda: target.update(operation() or {})


def _start_up(bench: Bench):
    return lambda: bench.defer(bench.start_driver()._backend.close)


def _inventory_refresh(bench: Bench):
    """What each placement, and get_volume_stats every 30 s, costs to bring the inventory up
    to date when nothing changed (tools.bench.inventory measures its CPU at large sizes)."""
    return lambda: bench.driver._backend.inventory(refresh=True)


def _clone(bench: Bench):
    source, clone = bench.backed_volume(), bench.volume()
    return _updating(clone, lambda: bench.driver.create_cloned_volume(clone, source))


def _take_snapshot(bench: Bench):
    snapshot = bench.snapshot(bench.backed_volume(), take=False)
    return _updating(snapshot, lambda: bench.driver.create_snapshot(snapshot))


def _volume_from_snapshot(bench: Bench):
    snapshot = bench.snapshot(bench.backed_volume())
    volume = bench.volume()
    return _updating(volume, lambda: bench.driver.create_volume_from_snapshot(volume,
                                                                              snapshot))


def _delete_backed(bench: Bench):
    volume = bench.backed_volume(clean_up=False)
    return lambda: bench.driver.delete_volume(volume)


def _delete_lazy(bench: Bench):
    volume = bench.volume(clean_up=False)
    return lambda: bench.driver.delete_volume(volume)


def _first_attach(bench: Bench):
    volume = bench.volume()
    return lambda: bench.attach(volume)


def _cold_first_attach(bench: Bench):
    """The first attach of a driver just started (its start-up not measured), in a project
    whose folders exist."""
    driver = bench.start_driver()
    bench.defer(driver._backend.close)
    volume = bench.volume()
    return lambda: bench.attach(volume, driver)


def _extend(bench: Bench):
    volume = bench.backed_volume()
    return lambda: bench.driver.extend_volume(volume, 2)


def _image_import(bench: Bench):
    """copy_image_to_volume of a new 64 MiB streamOptimized image into a lazy volume."""
    glance = bench.glance
    image_id = glance.add(bench.image_file(IMAGE_MIB), 'vmdk',
                          vmware_disktype='streamOptimized')
    volume = bench.volume()
    bench.defer(lambda: glance.delete(None, image_id))
    return _updating(volume, lambda: bench.driver.copy_image_to_volume(
        bench.context, volume, glance, image_id))


SCENARIOS = [
    Scenario('start-up to ready, first session', _start_up,
             Target(calls=4), warm_up=False),
    Scenario('start-up to ready, WSDL cached', _start_up,
             Target(calls=4)),
    Scenario('first attach of a lazy volume', _first_attach, Target(calls=6, seconds=0.8)),
    Scenario('first attach on a cold driver', _cold_first_attach, Target(calls=6)),  # issue 15
    Scenario('delete of a backed volume', _delete_backed, Target(calls=3, seconds=0.45)),
    Scenario('delete of a never-attached volume', _delete_lazy),
    Scenario('inventory refresh, nothing changed', _inventory_refresh, Target(calls=1)),
    Scenario('full clone of a backed volume', _clone),
    Scenario('template snapshot of a backed volume', _take_snapshot),
    Scenario('volume from a template snapshot', _volume_from_snapshot),
    Scenario('extend of a backed volume (1 to 2 GiB)', _extend),
    # 9: the volume's backing is looked for first (FindAllByUuid), as a reimage replaces it
    Scenario('image import, %d MiB streamOptimized' % IMAGE_MIB, _image_import,
             Target(calls=9, seconds=1.0)),
]


def run_scenario(bench: Bench, model: str, scenario: Scenario, repeat: int) -> Result:
    """Measure ``scenario`` ``repeat`` times (once if it is the cold start-up)."""
    runs = []
    try:
        if scenario.warm_up:
            scenario.prepare(bench)()
        for _ in range(repeat if scenario.warm_up else 1):
            runs.append(bench.measure(scenario.prepare(bench)))
            bench.clean_up()
    except NotImplementedError:
        return Result(model, scenario.name, None, {}, 0, str(scenario.target), None)
    finally:
        bench.clean_up()
    seconds, calls, nfc = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    median = statistics.median(run[0] for run in runs)
    return Result(model, scenario.name, median, calls, nfc, str(scenario.target),
                  scenario.target.met(sum(calls.values()), median))


def run_model(model: str, size: ModelSize, task_ms: int, latency_ms: int,
              repeat: int) -> list[Result]:
    with Simulator(size, task_ms=task_ms, latency_ms=latency_ms) as vc:
        bench = Bench(vc, model)
        results = [run_scenario(bench, model, SCENARIOS[0], repeat)]   # cold: runs first
        bench.ready()
        try:
            return results + [run_scenario(bench, model, scenario, repeat)
                              for scenario in SCENARIOS[1:]]
        finally:
            bench.close()


def configure_cinder(workdir: str) -> None:
    """What cinder-volume sets up before loading drivers: objects, options, coordination."""
    from cinder import objects
    objects.register_all()     # before cinder.volume.manager is imported
    from cinder import coordination
    from cinder.common import config  # noqa: F401 - registers Cinder's options
    from oslo_config import cfg
    cfg.CONF([], project='cinder', default_config_files=[])
    cfg.CONF.set_override('backend_url', 'file://%s' % workdir, group='coordination')
    cfg.CONF.set_override('lock_path', workdir, group='oslo_concurrency')
    coordination.COORDINATOR.start()


def format_table(results: list[Result]) -> str:
    """The results as a plain-text table, one block per model."""
    lines = []
    for model in dict.fromkeys(result.model for result in results):
        size = MODELS[model]
        lines += ['', '%s model: %d hosts, %d datastores, %d VMs' % (
            model, size.hosts, size.datastores, size.hosts * size.vms),
            '%-40s %7s %6s %9s  %-24s %s' % ('operation', 'wall s', 'calls', 'NFC bytes',
                                              'target', 'SOAP calls by method')]
        for result in (r for r in results if r.model == model):
            if result.seconds is None:
                lines.append('%-40s not implemented yet' % result.scenario)
                continue
            mark = {True: 'pass', False: 'MISS', None: ''}[result.met]
            lines.append('%-40s %7.2f %6d %9d  %-24s %s' % (
                result.scenario, result.seconds, result.total_calls, result.nfc_bytes,
                ('%s %s' % (result.target, mark)).strip(),
                ', '.join('%s %d' % item for item in sorted(result.calls.items()))))
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench.bench',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', choices=sorted(MODELS),
                        default=['small', 'large'])
    parser.add_argument('--task-ms', type=int, default=300, help='emulated task duration')
    parser.add_argument('--latency-ms', type=int, default=20, help='added per SOAP call')
    parser.add_argument('--repeat', type=int, default=3, help='runs per scenario (median)')
    parser.add_argument('--json', metavar='PATH', help='also write the results here')
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix='vmdk-bench-') as workdir:
        configure_cinder(workdir)
        for model in args.models:
            results += run_model(model, MODELS[model], args.task_ms, args.latency_ms,
                                 args.repeat)
    print('task %d ms, latency %d ms per call, median of %d runs'
          % (args.task_ms, args.latency_ms, args.repeat) + format_table(results))
    if args.json:
        with open(args.json, 'w') as out:
            json.dump({'task_ms': args.task_ms, 'latency_ms': args.latency_ms,
                       'repeat': args.repeat,
                       'results': [dataclasses.asdict(r) | {'total_calls': r.total_calls}
                                   for r in results]}, out, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
