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

"""Lock names (ASCII, file-name safe) and the in-process locks."""

import threading

from vmdk_volume.core import locks


def test_ids_stay_readable_and_folder_names_are_hashed():
    assert locks.name('backing', 'c0ffee-1234') == 'vmdk-volume-backing-c0ffee-1234'
    hashed = locks.name('folder', 'vc-uuid', 'group-v4', 'Project (p1)')
    assert hashed.startswith('vmdk-volume-folder-') and hashed.isascii()
    assert ' ' not in hashed and '(' not in hashed
    assert locks.name('folder', 'vc', 'group-v4', 'Volumés') != locks.name(
        'folder', 'vc', 'group-v4', 'Volumes')
    assert locks.name('folder', 'vc', 'group-v4', 'Volumés').isascii()


def test_local_locks_exclude_by_name_only():
    local = locks.LocalLocks()
    with local('a'):
        assert local('b').acquire(blocking=False)
        local('b').release()
        held = threading.Thread(target=lambda: results.append(
            local('a').acquire(blocking=False)))
        results = []
        held.start()
        held.join()
    assert results == [False]
