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

"""The fault proxy's HOLD: a held call is counted and does nothing until released; then it
reaches the simulator (in the crash column, after its client was killed)."""

import threading
import time
import uuid

from vmdk_volume_simkit import ModelSize
from vmdk_volume_simkit.faults import Fault, FaultKind, FaultProxy

from tests.functional.helpers import backend_config, connect
from vmdk_volume.core import volume_type
from vmdk_volume.core.backings import BackingRequest


def _wait(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, 'not in %d s' % timeout_s
        time.sleep(0.05)


def test_a_held_call_runs_only_once_released(tmp_path):
    volume_id = str(uuid.uuid4())
    request = BackingRequest(volume_id=volume_id, name='volume-%s' % volume_id,
                             size_bytes=1024 ** 3, profile=volume_type.parse({}))
    with FaultProxy(tmp_path, ModelSize(hosts=1, datastores=1, vms=1)) as proxy:
        backend = connect(backend_config(proxy))
        watcher = connect(backend_config(proxy))
        try:
            backend.inventory()
            proxy.arm(Fault('CreateVM_Task', FaultKind.HOLD))
            maker = threading.Thread(target=backend.create_backing, args=(request, 'p'),
                                     daemon=True)
            maker.start()
            _wait(lambda: proxy.held == 1)
            time.sleep(1)
            assert watcher.backings.find(volume_id) is None
            proxy.release()
            assert proxy.held == 0
            _wait(lambda: watcher.backings.find(volume_id) is not None)
            maker.join(30)
        finally:
            proxy.arm(None)
            backend.close()
            watcher.close()
