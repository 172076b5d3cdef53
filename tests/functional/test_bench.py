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

"""The benchmarks run end to end on a small inventory (and a small image) and report what
vCenter was asked and what the image import held in memory.

Each runs in its own process (``python -m tools.bench.bench`` configures Cinder's
global options and coordination, which this test run's Cinder fixtures own).
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]    # tools.bench runs from the repo's root


def test_bench_reports_the_calls_of_each_operation(tmp_path):
    out = tmp_path / 'bench.json'
    subprocess.run([sys.executable, '-m', 'tools.bench.bench', '--models', 'small',
                    '--repeat', '1', '--task-ms', '0', '--latency-ms', '0',
                    '--json', str(out)], check=True, capture_output=True, timeout=300, cwd=ROOT)
    results = {r['scenario']: r for r in json.loads(out.read_text())['results']}

    def calls(scenario):
        return results[scenario]['calls']

    assert calls('start-up to ready, WSDL cached') == {   # the inventory's watch and the
        'RetrieveServiceContent': 1, 'Login': 1, 'CreatePropertyCollector': 2,   # task waits'
        'CreateFilter': 2, 'WaitForUpdatesEx': 1, 'FindExtension': 1}
    assert calls('first attach of a lazy volume') == {    # the inventory's changes, the task
        'FindAllByUuid': 1, 'RetrievePropertiesEx': 1, 'CreateVM_Task': 1,
        'WaitForUpdatesEx': 2}
    assert calls('first attach on a cold driver') == {   # the project's folders: one call
        'FindAllByUuid': 1, 'RetrievePropertiesEx': 1, 'FindByInventoryPath': 1,
        'CreateVM_Task': 1, 'WaitForUpdatesEx': 2}
    assert calls('inventory refresh, nothing changed') == {'WaitForUpdatesEx': 1}
    assert calls('delete of a backed volume') == {
        'RetrievePropertiesEx': 1, 'Destroy_Task': 1, 'WaitForUpdatesEx': 1}
    assert calls('delete of a never-attached volume') == {'FindAllByUuid': 1}
    assert calls('full clone of a backed volume')['CloneVM_Task'] == 1
    assert calls('extend of a backed volume (1 to 2 GiB)')['ExtendVirtualDisk_Task'] == 1
    image = results['image import, 64 MiB streamOptimized']
    assert image['calls'] == {   # FindAllByUuid: a backing the volume has gets the image
        'FindAllByUuid': 1, 'ImportVApp': 1, 'RetrievePropertiesEx': 3,
        'HttpNfcLeaseComplete': 1, 'MarkAsTemplate': 1, 'CloneVM_Task': 1,
        'WaitForUpdatesEx': 3}   # the task, two placements' refreshes (cache, volume)
    assert image['nfc_bytes'] > 64 * 1024 ** 2
    assert all(r['seconds'] is not None and (r['nfc_bytes'] == 0 or r is image)
               for r in results.values())


def test_image_bench_measures_both_import_paths_within_the_memory_goal():
    out = subprocess.run([sys.executable, '-m', 'tools.bench.images', '--size', '8M'],
                         check=True, capture_output=True, text=True, timeout=300,
                         cwd=ROOT).stdout
    growth = {line.split()[2]: float(line.rsplit('+', 1)[1].split()[0])
              for line in out.splitlines() if line.startswith('peak RSS, ')}
    assert set(growth) == {'streamOptimized', 'qcow2'}
    assert all(0 <= mib < 100 for mib in growth.values())
    assert 'import, qcow2 (spool + convert)' in out


def test_inventory_bench_measures_the_watchs_first_read_and_refreshes():
    out = subprocess.run([sys.executable, '-m', 'tools.bench.inventory', '--sizes', '3x2',
                          '--repeat', '1'], check=True, capture_output=True, text=True,
                         timeout=120, cwd=ROOT).stdout
    calls = {line[11:].rsplit(None, 3)[0]: int(line.split()[-1])
             for line in out.splitlines()[1:]}
    assert calls == {'first read': 3, 'refresh, nothing changed': 1,
                     'refresh, one datastore changed': 1}


def test_move_bench_reports_the_move_next_to_the_export_unpaced_and_paced():
    out = subprocess.run([sys.executable, '-m', 'tools.bench.across', '--size', '8M',
                          '--nfc-rate', str(16 * 1024 * 1024)],
                         check=True, capture_output=True, text=True, timeout=300,
                         cwd=ROOT).stdout
    named = ('NFC export', 'move to', 'paced NFC', 'paced move')
    rows = {line[:26].strip(): [float(value) for value in line[26:].split()]
            for line in out.splitlines() if line.startswith(named)}
    assert set(rows) == {'NFC export (read out)', 'move to another vCenter',
                         'paced NFC export', 'paced move', 'paced move, stream alone'}
    assert all(value > 0 for row in rows.values() for value in row)
    assert rows['paced move, stream alone'][1] <= 16 * 1.05     # MiB/s: the pace holds
    cpu = [line for line in out.splitlines() if line.startswith('CPU s from the lease')]
    assert len(cpu) == 4 and all('machine' in line for line in cpu)
    growth = float(next(line for line in out.splitlines()
                        if line.startswith('peak RSS')).rsplit('+', 1)[1].split()[0])
    assert 0 <= growth < 100


def test_move_bench_refuses_a_rate_that_is_no_positive_number_before_starting_anything():
    done = subprocess.run([sys.executable, '-m', 'tools.bench.across', '--nfc-rate', '0'],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert "--nfc-rate: '0' is not a positive number of bytes per second" in done.stderr
