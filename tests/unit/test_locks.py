"""Lock names (ASCII, file-name safe) and the in-process locks."""

import threading

from vmdk_volume import locks


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
