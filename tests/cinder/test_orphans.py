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

"""``vmdk-volume orphans`` reading Cinder's database through the cinder.conf, beside volumes
being made and deleted through Cinder's VolumeManager."""

import datetime
import itertools
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests import vcenter
from tests.cinder import racing
from tests.cinder.helpers import NOVA_CONNECTOR, vm_to_attach
from vmdk_volume.cmd import cinderconf, cinderdb, orphans
from vmdk_volume.cmd import main as cli
from vmdk_volume.core import backend as vbackend
from vmdk_volume.core.config import BackendConfig

BACKEND = 'vc1'


@pytest.fixture
def vc1(cinder):
    """vc1's manager and a connector to attach its volumes to an instance."""
    manager = cinder.managers[BACKEND]
    instance, _ = vm_to_attach(manager.driver)
    return manager, dict(NOVA_CONNECTOR, instance=instance)


def _leftover(view: vcenter.VCenter, project_id: str) -> tuple[str, str]:
    """A backing no Cinder volume owns: its volume id and moref value."""
    gone = str(uuid.uuid4())
    return gone, view.plant(gone, project_id)


def test_orphans_reads_cinder_volumes_from_the_database(cinder, vc1):
    manager, connector = vc1
    view = vcenter.of(manager.driver)
    volume = cinder.create_volume(BACKEND)
    manager.initialize_connection(cinder.context, volume, connector)
    gone, leftover = _leftover(view, volume.project_id)
    try:
        done = subprocess.run([sys.executable, '-m', 'vmdk_volume.cmd.main', 'orphans',
                               '--config-file', str(cinder.conf_file), '--backend', BACKEND,
                               '--grace-minutes', '0'],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert 'volume-%s (%s) id %s\n' % (gone, leftover, gone) in done.stdout
        assert volume.id not in done.stdout       # owned: in Cinder's database
    finally:
        view.delete(leftover)
        manager.delete_volume(cinder.context, volume)


def test_a_volume_made_after_cinder_was_first_read_keeps_its_backing(cinder, vc1,
                                                                     monkeypatch, capsys):
    """A worker makes a volume (and its backing) just after the command reads Cinder's
    records: it is Cinder's, whatever the grace period."""
    manager, connector = vc1
    view = vcenter.of(manager.driver)
    made = []

    def read_then_make(files):
        ids = racing.owned_ids(cinder.context)
        if not made:
            made.append(cinder.create_volume(BACKEND))
            manager.initialize_connection(cinder.context, made[0], connector)
        return ids
    monkeypatch.setattr(cinderdb, 'owned_ids', read_then_make)
    gone, leftover = _leftover(view, cinder.context.project_id)

    assert cli.main(['orphans', '--config-file', str(cinder.conf_file), '--backend', BACKEND,
                     '--delete', '--grace-minutes', '0']) == 0
    out = capsys.readouterr().out
    try:
        assert 'volume-%s (%s) id %s: deleted\n' % (gone, leftover, gone) in out
        assert view.find(made[0].id) is not None, out
    finally:
        manager.delete_volume(cinder.context, made[0])


class Workers:
    """Threads making volumes (attached, so with a backing) and snapshots through Cinder,
    and deleting them, until stopped."""

    def __init__(self, cinder, manager, connector, count: int):
        self.cinder, self.manager, self.connector = cinder, manager, connector
        self.stop, self.failures, self.made, self.kept = threading.Event(), [], [], []
        self.threads = [threading.Thread(target=self._work) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _work(self):
        context, mine = self.cinder.context, []
        for step in itertools.count():
            if self.stop.is_set():
                break
            try:
                volume = self.cinder.create_volume(BACKEND)
                self.manager.initialize_connection(context, volume, self.connector)
                snapshots = [self.cinder.create_snapshot(BACKEND, volume)] if step % 3 else []
                mine.append((volume, snapshots))
                self.made.append(volume.id)
                if len(mine) > 2:
                    self._delete(*mine.pop(0))
            except Exception as error:        # noqa: BLE001 - reported by the test
                self.failures.append('%s: %s' % (type(error).__name__, error))
        self.kept += mine

    def _delete(self, volume, snapshots):
        for snapshot in snapshots:
            self.manager.delete_snapshot(self.cinder.context, snapshot)
        self.manager.delete_volume(self.cinder.context, volume)

    def join(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def clean_up(self):
        for volume, snapshots in self.kept:
            self._delete(volume, snapshots)


def test_find_and_delete_rounds_beside_busy_workers_delete_no_live_object(cinder, vc1):
    manager, connector = vc1
    view = vcenter.of(manager.driver)
    planted = dict(_leftover(view, cinder.context.project_id) for _ in range(2))
    section = cinderconf.load([str(cinder.conf_file)]).ours(BACKEND)[0]
    client = vbackend.Backend.connect(BackendConfig.from_options(section)).client
    deleted, started = [], time.monotonic()
    workers = Workers(cinder, manager, connector, 4)
    try:
        for minutes in (0, 60, 0, 60):      # 0: what the workers made before the scan
            # is old enough; only the ids read after it (and again) keep it
            deleted += [orphan for orphan, status in orphans.sweep(
                client, lambda: racing.owned_ids(cinder.context),
                datetime.timedelta(minutes=minutes),
                lambda orphan: orphan.kind is not orphans.Kind.CACHE) if status == 'deleted']
    finally:
        workers.join()
        client.close()
    print('4 find-and-delete rounds in %.1f s beside 4 workers making %d volumes: %d deleted'
          % (time.monotonic() - started, len(workers.made), len(deleted)))
    try:
        live = racing.owned_ids(cinder.context)
        assert workers.failures == []
        assert [o for o in deleted if o.owner_id in live] == []
        assert set(planted) <= {o.owner_id for o in deleted}
        for volume, snapshots in workers.kept:
            ref = view.find(volume.id)
            assert ref is not None and view.describe(ref).name == 'volume-%s' % volume.id
            for snapshot in snapshots:
                assert view.find(snapshot.id) is not None
    finally:
        workers.clean_up()
