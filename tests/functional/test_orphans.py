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

"""``vmdk-volume orphans``: planted leftovers are found, nothing else is, --delete removes them."""

import contextlib
import datetime
import io
import uuid

import pytest
from vmdk_volume_simkit import ModelSize, Simulator

from tests.functional.helpers import backend_config, connect, write_conf
from vmdk_volume.cmd import main as cli
from vmdk_volume.cmd import orphans
from vmdk_volume.core import volume_type
from vmdk_volume.core.backings import BackingRequest
from vmdk_volume.core.images.cache import ImageCache
from vmdk_volume.core.retype import RETYPED_SUFFIX
from vmdk_volume.vsphere import datastore_files, properties, specs

PROJECT = 'c0ffee00c0ffee00c0ffee00c0ffee00'


@pytest.fixture(scope='module')
def vc():
    """A vCenter of its own: other tests' backings must not count as leftovers here."""
    with Simulator(ModelSize(hosts=2, datastores=2)) as simulator:
        yield simulator


@pytest.fixture(scope='module')
def backend(vc):
    connected = connect(backend_config(vc))
    yield connected
    connected.close()


def _backing(backend, volume_id: str) -> str:
    request = BackingRequest(volume_id=volume_id, name='volume-%s' % volume_id,
                             size_bytes=1024 ** 3, profile=volume_type.parse({}))
    return backend.create_backing(request, PROJECT)


def _template(backend, source: str, snapshot_id: str) -> str:
    request = BackingRequest(volume_id=snapshot_id, name='snapshot-%s' % snapshot_id,
                             size_bytes=1024 ** 3, profile=volume_type.parse({}))
    return backend.clone_backing(backend.describe(source), request, PROJECT, template=True)


def _run(monkeypatch, capsys, conf, owned, *extra, grace='0.001') -> list[str]:
    """The command's lines, ``owned`` given on stdin, with a grace period of ``grace``
    minutes (the planted objects are older than 60 ms)."""
    monkeypatch.setattr('sys.stdin', io.StringIO('\n'.join(owned) + '\n'))
    assert cli.main(['orphans', '--config-file', str(conf), '--ids-from-stdin',
                     '--grace-minutes', grace, *extra]) == 0
    return capsys.readouterr().out.splitlines()


def _cache_entry(backend, image_id: str, template: bool) -> str:
    """A template of the image cache, or (``template`` False) an import into it that never
    finished."""
    cache = ImageCache(backend.client, backend.backings, backend.locks,
                       lambda: backend.config.image_cache)
    request = cache.template_request(image_id, 'md5:1', BackingRequest(
        volume_id='', name='', size_bytes=1024 ** 3, profile=volume_type.parse({})))
    ref = backend.create_backing(request, PROJECT)
    if template:
        cache.add(image_id, 'md5:1', ref, request.size_bytes)
    return ref


def _folder_of(backend, ref: str) -> str:
    return backend.describe(ref).vmdk_path.rpartition('/')[0]


def _stray_disk(backend, path: str) -> None:
    """A VMDK at ``path`` that no VM uses (as a failed copy leaves one)."""
    client = backend.client
    [datacenter] = backend.inventory().datacenters
    client.run('CreateVirtualDisk_Task', client.content.virtualDiskManager, name=path,
               datacenter=client.ref('Datacenter', datacenter),
               spec=client.create('FileBackedVirtualDiskSpec', diskType='thin',
                                  adapterType='lsiLogic', capacityKb=1024))


def _unregistered(backend, volume_id: str) -> str:
    """The disk of a backing that left the inventory but not its datastore."""
    ref = _backing(backend, volume_id)
    path = backend.describe(ref).vmdk_path
    backend.client.call('UnregisterVM', backend.client.ref('VirtualMachine', ref))
    return path


def _unmanaged(backend, volume_id: str) -> str:
    """A backing given back to vCenter (unmanaged): it keeps managedBy, loses its mark."""
    ref = _backing(backend, volume_id)
    backend.backings.reconfigure(ref, specs.identity_config(
        backend.client, name=None, volume_id='', mark=False))
    return ref


def test_planted_leftovers_are_found_and_nothing_else(vc, backend, tmp_path, monkeypatch,
                                                      capsys):
    volume, snapshot, gone_volume, gone_snapshot, gone_cow, gone_file, unmanaged, image, \
        half_image = (str(uuid.uuid4()) for _ in range(9))
    kept = _backing(backend, volume)
    kept_template = _template(backend, kept, snapshot)
    leftover = _backing(backend, gone_volume)
    leftover_template = _template(backend, kept, gone_snapshot)
    cow = backend.backings.snapshot(kept, 'snapshot-%s' % gone_cow)
    retyped = backend.clone_backing(backend.describe(kept), BackingRequest(
        volume_id=volume, name='volume-%s%s' % (volume, RETYPED_SUFFIX), size_bytes=1024 ** 3,
        profile=volume_type.parse({})), PROJECT)
    cached = _cache_entry(backend, image, template=True)
    half_imported = _cache_entry(backend, half_image, template=False)
    stray = '%s/volume-%s_1.vmdk' % (_folder_of(backend, kept), volume)
    _stray_disk(backend, stray)
    unregistered = _unregistered(backend, gone_file)
    kept_unmanaged = _unmanaged(backend, unmanaged)
    conf = write_conf(tmp_path, vc)
    [datacenter] = backend.inventory().datacenters
    datastore = {s.name: s.ref for s in backend.inventory().datastores.values()}

    vc.reset_stats()
    found = orphans.find(backend.client, frozenset({volume, snapshot}))
    calls = vc.stats().calls
    assert calls.pop('WaitForUpdatesEx') <= 4      # the two search tasks
    assert calls == {'CreateContainerView': 1, 'RetrievePropertiesEx': 1, 'DestroyView': 1,
                     'SearchDatastoreSubFolders_Task': 2}     # one per datastore
    assert {o.datacenter for o in found if o.kind is orphans.Kind.FILE} == {datacenter}
    assert {(o.kind, o.name, o.ref, o.owner_id) for o in found} == {
        (orphans.Kind.BACKING, 'volume-%s' % gone_volume, leftover, gone_volume),
        (orphans.Kind.TEMPLATE, 'snapshot-%s' % gone_snapshot, leftover_template,
         gone_snapshot),
        (orphans.Kind.VM_SNAPSHOT, 'snapshot-%s' % gone_cow, cow, gone_cow),
        (orphans.Kind.TEMPORARY, 'volume-%s-retyped' % volume, retyped, volume),
        (orphans.Kind.TEMPORARY, 'image-%s' % half_image, half_imported, half_image),
        (orphans.Kind.FILE, stray, datastore[_datastore_name(stray)], volume),
        (orphans.Kind.FILE, unregistered, datastore[_datastore_name(unregistered)], gone_file),
        (orphans.Kind.CACHE, 'image-%s' % image, cached, image)}

    listed = _run(monkeypatch, capsys, conf, [volume, snapshot])
    assert len(listed) == 9 and listed[-1] == (
        '7 orphans (vmdk-volume orphans --delete removes them); 1 image-cache entry (kept: '
        'the cache owns them; --delete --include-cache removes them too)')
    assert listed[-2].startswith('vc  cache entry  image-%s (%s)' % (image, cached))

    deleted = _run(monkeypatch, capsys, conf, [volume, snapshot], '--delete')
    assert [line.endswith(': deleted') for line in deleted[:-1]] == [True] * 7 + [False]
    assert deleted[-1] == ('7 orphans deleted; 1 image-cache entry (kept: the cache owns '
                           'them; --delete --include-cache removes them too)')
    assert _run(monkeypatch, capsys, conf, [volume, snapshot], '--delete',
                '--include-cache') == [
        'vc  cache entry  image-%s (%s) id %s: deleted' % (image, cached, image),
        '0 orphans; 1 image-cache entry deleted']
    assert _run(monkeypatch, capsys, conf, [volume, snapshot]) == ['0 orphans']

    assert backend.backings.find(gone_volume) is None
    disks = set(datastore_files.disks(backend.client, *_browser(backend, stray)))
    assert stray not in disks and backend.describe(kept).vmdk_path in disks
    left = properties.fetch(backend.client, [backend.client.ref('VirtualMachine', ref)
                                             for ref in (kept, kept_template, kept_unmanaged)],
                            ['name'])
    assert sorted(item.value for item in left) == sorted([kept, kept_template, kept_unmanaged])

    for ref in (kept, kept_template, kept_unmanaged):
        backend.backings.delete(ref)


def test_a_retyped_copy_that_is_its_volume_only_backing_is_kept(backend):
    """A retype that dropped the old backing but failed to rename the copy leaves the volume
    in the ``-retyped`` VM: deleting it would lose the volume."""
    volume = str(uuid.uuid4())
    ref = backend.create_backing(BackingRequest(
        volume_id=volume, name='volume-%s%s' % (volume, RETYPED_SUFFIX), size_bytes=1024 ** 3,
        profile=volume_type.parse({})), PROJECT)
    try:
        assert [o for o in orphans.find(backend.client, frozenset({volume}))
                if o.owner_id == volume] == []
        assert [(o.kind, o.ref) for o in orphans.find(backend.client, frozenset())
                if o.owner_id == volume] == [(orphans.Kind.TEMPORARY, ref)]
    finally:
        backend.backings.delete(ref)


def _datastore_name(path: str) -> str:
    return path[1:path.index(']')]


def _browser(backend, path: str) -> tuple:
    """The browser of the datastore ``path`` lies on, and the datastore's name."""
    name = _datastore_name(path)
    [store] = [s for s in backend.inventory().datastores.values() if s.name == name]
    client = backend.client
    browser = properties.fetch_one(client, client.ref('Datastore', store.ref), ['browser'])
    return browser['browser'], name


def test_without_a_database_or_ids_it_says_what_to_pass(vc, tmp_path, capsys):
    conf = write_conf(tmp_path, vc)
    assert cli.main(['orphans', '--config-file', str(conf)]) == 2
    assert capsys.readouterr().err == (
        "vmdk-volume orphans: %s has no [database] connection to read Cinder's volumes from: "
        'set it, or pass their ids with --ids-from-stdin\n' % conf)


def test_what_is_younger_than_the_grace_period_is_skipped(vc, backend, tmp_path, monkeypatch,
                                                          capsys):
    gone = str(uuid.uuid4())
    leftover = _backing(backend, gone)
    conf = write_conf(tmp_path, vc)
    try:
        lines = _run(monkeypatch, capsys, conf, [], '--delete', grace='60')
        assert 'vc  backing      volume-%s (%s) id %s: skipped, too new' % (
            gone, leftover, gone) in lines
        assert lines[-1].startswith('0 orphans; ')
        assert lines[-1].endswith(' skipped (younger than the grace period, or changed since '
                                  'the scan)')
        assert backend.backings.find(gone) == leftover
    finally:
        backend.backings.delete(leftover)


@pytest.mark.parametrize('grace, error', [
    ('0', "vmdk-volume orphans: --grace-minutes 0 needs the ids read again before each "
          "deletion, from Cinder's database ([database] connection): ids from stdin are read "
          "once; give a grace period longer than the time since they were listed\n"),
    ('-1', "argument --grace-minutes: '-1' is not a number of minutes (0 or more)"),
    ('nan', "argument --grace-minutes: 'nan' is not a number of minutes (0 or more)"),
    ('soon', "argument --grace-minutes: 'soon' is not a number of minutes (0 or more)")])
def test_a_grace_period_it_cannot_keep_is_refused(vc, tmp_path, capsys, grace, error):
    conf = write_conf(tmp_path, vc)
    with pytest.raises(SystemExit) if grace != '0' else contextlib.nullcontext():
        assert cli.main(['orphans', '--config-file', str(conf), '--ids-from-stdin',
                         '--grace-minutes', grace]) == 2
    assert error in capsys.readouterr().err


def _attach_disk(backend, ref: str, path: str) -> None:
    """Give the backing ``ref`` the existing disk at ``path`` as a second disk."""
    client = backend.client
    controller = backend.describe(ref).disk.controllerKey
    disk = client.create('VirtualDisk', key=-1, controllerKey=controller, unitNumber=1,
                         capacityInKB=1024, backing=client.create(
                             'VirtualDiskFlatVer2BackingInfo', fileName=path,
                             diskMode='persistent', thinProvisioned=True))
    change = client.create('VirtualDeviceConfigSpec', operation='add', device=disk)
    backend.backings.reconfigure(ref, client.create('VirtualMachineConfigSpec',
                                                    deviceChange=[change]))


def test_each_candidate_is_read_again_just_before_it_is_deleted(vc, backend):
    """What became Cinder's, was renamed, came into use or went away since the scan is not
    deleted, nor a -retyped copy whose volume's other backing went (retype's last step); the
    rest is, each after one property read of it (a file: of every VM's disks)."""
    kept_id, owned_later, renamed, removed, plain, owned_cow, retyping = (
        str(uuid.uuid4()) for _ in range(7))
    kept = _backing(backend, kept_id)
    refs = {volume: _backing(backend, volume) for volume in (owned_later, renamed, removed,
                                                              plain, retyping)}
    retyped = backend.clone_backing(backend.describe(refs[retyping]), BackingRequest(
        volume_id=retyping, name='volume-%s%s' % (retyping, RETYPED_SUFFIX),
        size_bytes=1024 ** 3, profile=volume_type.parse({})), PROJECT)
    cow = backend.backings.snapshot(kept, 'snapshot-%s' % owned_cow)
    stray = '%s/volume-%s_1.vmdk' % (_folder_of(backend, kept), kept_id)
    _stray_disk(backend, stray)
    reads = iter([frozenset({kept_id, retyping})])

    def owned():
        return next(reads, frozenset({kept_id, retyping, owned_later, owned_cow}))

    def meanwhile(orphan):
        """Between the scan and the deletion, someone else acts on the candidate."""
        if orphan.owner_id == renamed:
            backend.backings.reconfigure(orphan.ref, specs.identity_config(
                backend.client, name='volume-%s-renamed' % renamed, volume_id=renamed))
        elif orphan.owner_id == removed:
            backend.backings.delete(orphan.ref)
        elif orphan.kind is orphans.Kind.FILE:
            _attach_disk(backend, kept, stray)
        elif orphan.kind is orphans.Kind.TEMPORARY:
            backend.backings.delete(refs[retyping])     # the copy is the volume's only one
        vc.reset_stats()
        return orphan.kind is not orphans.Kind.CACHE

    outcomes, calls = {}, {}
    for orphan, status in orphans.sweep(backend.client, owned, datetime.timedelta(0),
                                        meanwhile):
        outcomes[orphan.owner_id, orphan.kind] = status
        calls[orphan.owner_id, orphan.kind] = vc.stats().calls
    try:
        assert {key: outcomes[key] for key in [
            (owned_later, orphans.Kind.BACKING), (renamed, orphans.Kind.BACKING),
            (removed, orphans.Kind.BACKING), (plain, orphans.Kind.BACKING),
            (owned_cow, orphans.Kind.VM_SNAPSHOT), (kept_id, orphans.Kind.FILE),
            (retyping, orphans.Kind.TEMPORARY)]} == {
            (owned_later, orphans.Kind.BACKING): 'skipped, owned',
            (renamed, orphans.Kind.BACKING): 'skipped, changed',
            (removed, orphans.Kind.BACKING): 'gone already',
            (plain, orphans.Kind.BACKING): 'deleted',
            (owned_cow, orphans.Kind.VM_SNAPSHOT): 'skipped, owned',
            (kept_id, orphans.Kind.FILE): 'skipped, in use',
            (retyping, orphans.Kind.TEMPORARY): 'skipped, owned'}
        assert calls[owned_later, orphans.Kind.BACKING] == {'RetrievePropertiesEx': 1}
        assert calls[owned_cow, orphans.Kind.VM_SNAPSHOT] == {'RetrievePropertiesEx': 1}
        # the copy and the backing beside it in one read; that one gone, the copy alone
        assert calls[retyping, orphans.Kind.TEMPORARY] == {'RetrievePropertiesEx': 2}
        assert calls[kept_id, orphans.Kind.FILE] == {
            'CreateContainerView': 1, 'RetrievePropertiesEx': 1, 'DestroyView': 1}
        assert backend.backings.find(owned_later) == refs[owned_later]
        assert backend.backings.find(renamed) == refs[renamed]
        assert backend.backings.find(plain) is None
        assert backend.describe(retyped).name == 'volume-%s%s' % (retyping, RETYPED_SUFFIX)
        assert cow in {t.snapshot.value for t in properties.snapshot_trees(
            properties.fetch_one(backend.client, backend.client.ref('VirtualMachine', kept),
                                 ['snapshot'])['snapshot'])}
    finally:
        for ref in (kept, retyped, refs[owned_later], refs[renamed]):
            backend.backings.delete(ref)


@pytest.mark.parametrize('created_minutes_ago, grace_minutes, why', [
    (61, 60, ''), (59, 60, 'too new'), (1, 0, ''), (-1, 0, 'too new'),
    (None, 60, 'age unknown'), (None, 0, '')])
def test_the_age_that_counts_is_vcenters_at_the_scan_less_the_grace_period(
        created_minutes_ago, grace_minutes, why):
    """Made after the scan began: too new; of unknown age (vCenter before 6.7 does not date
    VMs): skipped while there is a grace period to keep."""
    scan = datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)
    created = (None if created_minutes_ago is None
               else scan - datetime.timedelta(minutes=created_minutes_ago))
    grace = datetime.timedelta(minutes=grace_minutes)
    orphan = orphans.Orphan(orphans.Kind.BACKING, 'volume-x', 'vm-1', 'x', created=created)
    assert orphans.too_young(orphan, scan - grace, grace) == why
