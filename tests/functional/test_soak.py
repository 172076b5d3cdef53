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

"""A short soak: mixed operations on 8 threads through the driver leave memory and handles
flat after warm-up (``tools.bench.soak``; the full 3,000 operations are in
doc/source/reliability.rst).

It runs in its own process, as the benchmarks do (it configures Cinder's global options and
coordination). A short run is still warming up: RSS grows in malloc's steps for the first
~1,300 operations (then stays flat), oslo.vmware's connection pool may open one or two more
connections the first time more threads call at once. So the bounds are looser than the
bench's own, and still below the leak issue 19 measured (92 KiB and 68 objects retained per
operation): sessions, collectors, filters and threads may not grow at all, lock files
only by the images' reader slots.
"""

import json
import subprocess
import sys

from tools.bench import soak
from tools.bench import verdict as bench_soak
from vmdk_volume.core.images.cache import READER_SLOTS

OPS = 520               # 40 volume lives, in 5 batches of 8 (one per thread)
MAX_RSS_KIB_PER_OP = 45
MAX_OBJECTS_PER_OP = 15
MAX_NEW_CONNECTIONS = 2     # file descriptors: the pool's size is bounded (10)


def test_a_short_soak_keeps_memory_and_handles_flat(tmp_path):
    out = tmp_path / 'soak.json'
    run = subprocess.run([sys.executable, '-m', 'tools.bench.soak', '--ops', str(OPS),
                          '--batches', '5', '--warm-up', '2', '--json', str(out)],
                         capture_output=True, text=True, timeout=400)
    assert out.exists(), run.stderr[-3000:]
    result = json.loads(out.read_text())
    verdict = result['verdict']

    assert result['ops'] == OPS and result['errors'] == {}, result['first_errors']
    assert all(verdict[h]['growth'] <= 0 for h in bench_soak.HANDLES
               if h not in ('fds', 'lock_files')), result['samples']
    # An image's reader slots get their lock files as its clones first overlap: at most
    # READER_SLOTS per image, whatever the number of operations (a lock file per volume,
    # the leak fixed, is tests/cinder/test_lock_files.py's).
    assert verdict['lock_files']['growth'] <= soak.IMAGES * READER_SLOTS, result['samples']
    assert verdict['fds']['growth'] <= MAX_NEW_CONNECTIONS, result['samples']
    assert verdict['objects']['per_op'] < MAX_OBJECTS_PER_OP, result['types_grown']
    assert verdict['rss_kib']['per_op'] < MAX_RSS_KIB_PER_OP, result['samples']
