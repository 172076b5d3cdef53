"""``vmdk-volume orphans``: planted leftovers are found, nothing else is, --delete removes them."""

import io
import uuid

import pytest

from tests.functional.conftest import backend_config, write_conf
from vmdk_volume import backend as vbackend
from vmdk_volume import cli, orphans, volume_type
from vmdk_volume.backings import BackingRequest
from vmdk_volume.images.cache import ImageCache
from vmdk_volume.retype import RETYPED_SUFFIX
from vmdk_volume.simkit import ModelSize, Simulator
from vmdk_volume.vsphere import datastore_files, properties, specs

PROJECT = 'c0ffee00c0ffee00c0ffee00c0ffee00'


@pytest.fixture(scope='module')
def vc():
    """A vCenter of its own: other tests' backings must not count as leftovers here."""
    with Simulator(ModelSize(hosts=2, datastores=2)) as simulator:
        yield simulator


@pytest.fixture(scope='module')
def backend(vc):
    connected = vbackend.Backend.connect(backend_config(vc))
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
    cache = ImageCache(backend)
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
