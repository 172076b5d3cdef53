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

"""Images into volumes and back, against the simulator: every accepted format, the refusals,
round trips compared after conversion to raw, and failed transfers leaving nothing behind."""

import dataclasses
import io
import os
import pathlib
import tarfile
import uuid

import pytest
import requests

from tests import hostile_images as hostile
from tests.functional.helpers import (
    RAW_SIZE,
    GiB,
    MiB,
    assert_holds_image,
    converted,
    export_to_raw,
    image_data,
    marks,
    qemu_img,
    request_for,
    vms_named,
)
from vmdk_volume.cmd import orphans
from vmdk_volume.core.images import formats, importer, located, transfer
from vmdk_volume.vsphere import leases, properties, specs

READS = {'RetrievePropertiesEx'}


def ova(vmdk: pathlib.Path) -> pathlib.Path:
    out = vmdk.with_suffix('.ova')
    with tarfile.open(out, 'w') as archive:
        descriptor = b'<Envelope/>'
        info = tarfile.TarInfo('appliance.ovf')
        info.size = len(descriptor)
        archive.addfile(info, io.BytesIO(descriptor))
        archive.add(vmdk, arcname='disk1.vmdk')
    return out


FORMATS = {
    'raw': lambda raw: (raw, 'raw', 'bare', {}),
    'qcow2': lambda raw: (converted(raw, 'qcow2'), 'qcow2', 'bare', {}),
    'vmdk-streamOptimized': lambda raw: (
        converted(raw, 'vmdk', 'subformat=streamOptimized'), 'vmdk', 'bare',
        {'vmware_disktype': 'streamOptimized'}),
    'vmdk-monolithicSparse': lambda raw: (
        converted(raw, 'vmdk', 'subformat=monolithicSparse'), 'vmdk', 'bare',
        {'vmware_disktype': 'sparse'}),
    'vmdk-preallocated (flat extent)': lambda raw: (
        raw, 'vmdk', 'bare', {'vmware_disktype': 'preallocated'}),
    'ova': lambda raw: (ova(converted(raw, 'vmdk', 'subformat=streamOptimized')), 'vmdk',
                        'ova', {'vmware_disktype': 'streamOptimized'}),
    'ova-monolithicSparse': lambda raw: (
        ova(converted(raw, 'vmdk', 'subformat=monolithicSparse')), 'vmdk', 'ova', {}),
}


@pytest.mark.parametrize('kind', sorted(FORMATS))
def test_each_format_round_trips(kind, raw_file, glance, tmp_dir, image_ops, backend,
                                 tmp_path):
    path, disk_format, container, props = FORMATS[kind](raw_file)
    image_id = glance.add(path, disk_format, container, **props)
    request = request_for(GiB, **{'vmware:adapter_type': 'paraVirtual'})
    ref = image_ops.import_image(image_data(glance, image_id), request, uuid.uuid4().hex)
    try:
        landed = backend.describe(ref)
        assert landed.size_bytes == GiB                   # grown to the volume's size
        assert landed.name == request.name
        assert backend.backings.find(request.volume_id) == ref
        exported = export_to_raw(image_ops, ref, GiB, glance, tmp_path)
    finally:
        backend.backings.delete(ref)
    assert_holds_image(exported, raw_file, tmp_dir)


def _bad_images(raw: pathlib.Path):
    vhd = converted(raw, 'vpc')
    backed = raw.with_name('backed.qcow2')
    if not backed.exists():
        qemu_img('create', '-f', 'qcow2', '-b', str(converted(raw, 'qcow2')), '-F', 'qcow2',
                 str(backed))
    flat = converted(raw, 'vmdk', 'subformat=monolithicFlat')
    return {
        'vhd data claimed raw': ((vhd, 'raw', 'bare', {}), 'data is vhd, which is not supported'),
        'vhd data claimed vmdk': ((vhd, 'vmdk', 'bare', {}), 'data is vhd'),
        'disk_format vhd': ((vhd, 'vhd', 'bare', {}), "disk_format 'vhd' is not supported"),
        'raw data claimed qcow2': ((raw, 'qcow2', 'bare', {}), 'claims to be qcow2'),
        'container docker': ((raw, 'raw', 'docker', {}), "container format 'docker'"),
        'qcow2 with backing file': ((backed, 'qcow2', 'bare', {}), 'backing'),
        'vmdk monolithicFlat descriptor': ((flat, 'vmdk', 'bare', {}), 'VMDK descriptor'),
        'stream claimed, sparse data': ((converted(raw, 'vmdk', 'subformat=monolithicSparse'),
                                         'vmdk', 'bare', {'vmware_disktype': 'streamOptimized'}),
                                        'claims to be vmdk \\(streamOptimized\\)'),
        'bad adapter property': ((raw, 'raw', 'bare', {'vmware_adaptertype': 'scsi9'}),
                                 'vmware_adaptertype'),
    }


@pytest.mark.parametrize('case', [
    'vhd data claimed raw', 'vhd data claimed vmdk', 'disk_format vhd',
    'raw data claimed qcow2', 'container docker', 'qcow2 with backing file',
    'vmdk monolithicFlat descriptor', 'stream claimed, sparse data', 'bad adapter property'])
def test_unacceptable_images_are_refused_before_anything_is_made(
        case, raw_file, glance, tmp_dir, image_ops, backend, soap_calls):
    (path, disk_format, container, props), message = _bad_images(raw_file)[case]
    image_id = glance.add(path, disk_format, container, **props)
    request = request_for()
    with pytest.raises(formats.ImageUnacceptable, match=message):
        image_ops.import_image(image_data(glance, image_id), request, uuid.uuid4().hex)
    assert set(soap_calls().calls) <= READS      # the cache index, read once
    assert list(tmp_dir.iterdir()) == []


@pytest.mark.parametrize('kind', ['raw', 'vmdk-streamOptimized'])
def test_image_larger_than_the_volume_is_refused(kind, raw_file, glance, tmp_dir, image_ops,
                                                 soap_calls):
    path, disk_format, container, props = FORMATS[kind](raw_file)
    image_id = glance.add(path, disk_format, container, **props)
    with pytest.raises(formats.ImageUnacceptable,
                       match='does not fit in a 0 GiB volume: create a volume of at least 1'):
        image_ops.import_image(image_data(glance, image_id), request_for(2 * MiB),
                               uuid.uuid4().hex)
    assert set(soap_calls().calls) <= READS
    assert list(tmp_dir.iterdir()) == []


def test_truncated_upload_fails_and_leaves_nothing(raw_file, glance, tmp_dir, image_ops,
                                                   backend, soap_calls):
    path, *_ = FORMATS['vmdk-streamOptimized'](raw_file)
    image_id = glance.add(path, 'vmdk', vmware_disktype='streamOptimized')
    glance.images[image_id]['size'] += 4096        # Glance's stream ends short of its size
    request = request_for()
    with pytest.raises(transfer.TransferFailed, match='truncated'):
        image_ops.import_image(image_data(glance, image_id), request, uuid.uuid4().hex)
    calls = soap_calls().calls
    assert calls['ImportVApp'] == 1 and calls['HttpNfcLeaseAbort'] == 1
    assert 'HttpNfcLeaseComplete' not in calls
    assert vms_named(backend, request.name) == []
    assert backend.backings.find(request.volume_id) is None


def test_stalled_transfer_hits_the_deadline(raw_file, glance, tmp_dir, image_ops, backend,
                                            monkeypatch):
    path, *_ = FORMATS['vmdk-streamOptimized'](raw_file)
    image_id = glance.add(path, 'vmdk', vmware_disktype='streamOptimized')
    monkeypatch.setattr(backend, 'config', dataclasses.replace(
        backend.config, image_transfer_timeout_s=0))
    request = request_for()
    with pytest.raises(transfer.TransferFailed, match='did not finish within 0 s'):
        image_ops.import_image(image_data(glance, image_id), request, uuid.uuid4().hex)
    assert vms_named(backend, request.name) == []


def test_volume_without_backing_exports_an_empty_disk(glance, image_ops, tmp_dir, tmp_path,
                                                      soap_calls):
    exported = export_to_raw(image_ops, None, 8 * MiB, glance, tmp_path)
    assert exported == bytes(8 * MiB)
    assert soap_calls().total == 0
    assert list(tmp_dir.iterdir()) == []


def test_never_written_backing_exports_zeros_of_its_size(glance, image_ops, backend,
                                                         tmp_path):
    request = request_for(8 * MiB)
    ref = backend.create_backing(request, 'p')
    try:
        assert export_to_raw(image_ops, ref, request.size_bytes, glance, tmp_path) \
            == bytes(8 * MiB)
    finally:
        backend.backings.delete(ref)


def _cache_config(backend, monkeypatch, **changes):
    cache = dataclasses.replace(backend.config.image_cache, **changes)
    monkeypatch.setattr(backend, 'config', dataclasses.replace(backend.config,
                                                                image_cache=cache))


def _template_names(backend, *image_ids) -> list:
    return [item.get('name') for image_id in image_ids
            for item in vms_named(backend, 'image-%s' % image_id)]


def test_cache_makes_the_second_volume_one_clone_task(raw_file, glance, tmp_dir, image_ops,
                                                      backend, simulator, tmp_path):
    image_id = glance.add(converted(raw_file, 'qcow2'), 'qcow2')
    project = uuid.uuid4().hex
    first = image_ops.import_image(image_data(glance, image_id), request_for(), project)
    simulator.reset_stats()
    request = request_for(2 * GiB)
    second = image_ops.from_cache(image_id, glance.show(None, image_id)['checksum'], request,
                                  project)
    stats = simulator.stats()
    try:
        tasks = {m: n for m, n in stats.calls.items() if m.endswith('_Task')}
        assert tasks == {'CloneVM_Task': 1}
        assert stats.nfc_bytes_uploaded == 0 and glance.downloads == 1
        assert backend.describe(second).size_bytes == 2 * GiB       # grown by the clone
        assert backend.backings.find(request.volume_id) == second
        exported = export_to_raw(image_ops, second, 2 * GiB, glance, tmp_path)
    finally:
        for ref in (first, second):
            backend.backings.delete(ref)
    assert exported[:RAW_SIZE] == raw_file.read_bytes()
    assert _template_names(backend, image_id) == ['image-%s' % image_id]


def test_template_is_in_the_cache_folder_and_not_a_volume(raw_file, glance, tmp_dir,
                                                          image_ops, backend):
    image_id = glance.add(raw_file, 'raw')
    ref = image_ops.import_image(image_data(glance, image_id), request_for(),
                                 uuid.uuid4().hex)
    backend.backings.delete(ref)
    template = vms_named(backend, 'image-%s' % image_id)[0]
    props = properties.fetch_one(backend.client, template.ref,
                                 ['config.extraConfig', 'config.template', 'parent'])
    keys = {o.key for o in props['config.extraConfig'].OptionValue}
    folder = properties.fetch_one(backend.client, props['parent'], ['name'])['name']
    assert props['config.template'] is True
    assert 'cinder.volume.id' not in keys and 'cinder.image.id' in keys
    assert folder == 'Image cache'


def test_clone_of_a_template_is_a_volume_not_the_template(raw_file, glance, tmp_dir,
                                                          image_ops, backend):
    """It carries its volume's mark only: orphans does not call it temporary, and a cache
    index read afresh (a restarted driver) takes it neither for the template nor, once the
    template is gone, in its place."""
    image_id = glance.add(raw_file, 'raw')
    checksum = glance.show(None, image_id)['checksum']
    request = request_for()
    volume = image_ops.import_image(image_data(glance, image_id), request, uuid.uuid4().hex)
    template = image_ops.cache.lookup(image_id, checksum)
    try:
        carried = marks(backend.client, volume)
        listed = {o.ref for o in orphans.find(backend.client, frozenset([request.volume_id]))}
        restarted = backend.images().cache.lookup(image_id, checksum)
        backend.backings.delete(template.ref)
        after_eviction = backend.images().cache.lookup(image_id, checksum)
    finally:
        backend.backings.delete(volume)
    assert carried == {'cinder.volume.id': request.volume_id}
    assert volume not in listed
    assert restarted.ref == template.ref
    assert after_eviction is None


def test_a_volume_of_an_earlier_release_carrying_the_image_marks_is_left_alone(
        raw_file, glance, tmp_dir, image_ops, backend):
    """Earlier releases cloned volumes from templates without clearing the image's marks:
    such a volume is no template and no unfinished fill (the next fill would destroy it), and
    orphans does not list it as temporary."""
    image_id = glance.add(raw_file, 'raw')
    checksum = glance.show(None, image_id)['checksum']
    request = request_for()
    old = backend.create_backing(request, uuid.uuid4().hex)
    backend.client.run('ReconfigVM_Task', backend.client.ref('VirtualMachine', old),
                       spec=backend.client.create('VirtualMachineConfigSpec', extraConfig=[
                           backend.client.create('OptionValue', key=key, value=value)
                           for key, value in specs.image_marks(image_id, checksum).items()]))
    try:
        listed = {o.ref for o in orphans.find(backend.client, frozenset([request.volume_id]))}
        filled = image_ops.import_image(image_data(glance, image_id), request_for(),
                                        uuid.uuid4().hex)
        backend.backings.delete(filled)
        still_there = backend.describe(old)
    finally:
        backend.backings.delete(old)
    assert old not in listed
    assert still_there.ref == old
    assert image_ops.cache.lookup(image_id, checksum).ref != old


def test_changed_image_replaces_its_template(raw_file, glance, tmp_dir, image_ops, backend,
                                             tmp_path):
    image_id = glance.add(raw_file, 'raw')
    backend.backings.delete(image_ops.import_image(image_data(glance, image_id),
                                                   request_for(), uuid.uuid4().hex))
    old = vms_named(backend, 'image-%s' % image_id)[0].value
    changed = tmp_path / 'changed.raw'
    changed.write_bytes(os.urandom(RAW_SIZE))
    glance.path(image_id).write_bytes(changed.read_bytes())
    glance.images[image_id]['checksum'] = 'new-checksum'
    ref = image_ops.import_image(image_data(glance, image_id), request_for(),
                                 uuid.uuid4().hex)
    try:
        exported = export_to_raw(image_ops, ref, GiB, glance, tmp_path)
    finally:
        backend.backings.delete(ref)
    assert [vm.value for vm in vms_named(backend, 'image-%s' % image_id)] != [old]
    assert exported[:RAW_SIZE] == changed.read_bytes()


def test_cache_evicts_the_least_recently_used(raw_file, glance, tmp_dir, image_ops, backend,
                                              monkeypatch):
    _cache_config(backend, monkeypatch, max_count=2)
    ids = [glance.add(raw_file, 'raw') for _ in range(3)]
    project = uuid.uuid4().hex
    for image_id in (ids[0], ids[1]):
        backend.backings.delete(image_ops.import_image(image_data(glance, image_id),
                                                       request_for(), project))
    backend.backings.delete(image_ops.from_cache(           # ids[0] used again: ids[1] is LRU
        ids[0], glance.show(None, ids[0])['checksum'], request_for(), project))
    backend.backings.delete(image_ops.import_image(image_data(glance, ids[2]),
                                                   request_for(), project))
    assert _template_names(backend, *ids) == ['image-%s' % ids[0], 'image-%s' % ids[2]]


def test_cache_off_keeps_no_template(raw_file, glance, tmp_dir, image_ops, backend,
                                     monkeypatch):
    _cache_config(backend, monkeypatch, enabled=False)
    image_id = glance.add(raw_file, 'raw')
    ref = image_ops.import_image(image_data(glance, image_id), request_for(),
                                 uuid.uuid4().hex)
    backend.backings.delete(ref)
    assert _template_names(backend, image_id) == []
    assert image_ops.from_cache(image_id, glance.show(None, image_id)['checksum'],
                                request_for(), uuid.uuid4().hex) is None


@pytest.mark.parametrize('kind', ['qcow2', 'vmdk-streamOptimized'])
def test_import_into_an_existing_backing_replaces_its_disk(kind, raw_file, glance, tmp_dir,
                                                           image_ops, backend, tmp_path):
    path, disk_format, container, props = FORMATS[kind](raw_file)
    image_id = glance.add(path, disk_format, container, **props)
    request = request_for(GiB)
    project = uuid.uuid4().hex
    existing = backend.create_backing(request, project)
    try:
        ref = image_ops.import_image(image_data(glance, image_id), request, project,
                                     existing=existing)
        assert ref == existing
        assert [vm.value for vm in vms_named(backend, request.name)] == [existing]
        assert vms_named(backend, request.name + '-image') == []
        assert backend.describe(existing).size_bytes == GiB
        exported = export_to_raw(image_ops, existing, GiB, glance, tmp_path)
    finally:
        backend.backings.delete(existing)
    assert_holds_image(exported, raw_file, tmp_dir)


def on_datastore(backend, simulator, path: pathlib.Path, name: str, host=None) -> str:
    """``path`` put on the simulator's first datastore as glance_store's VMware store keeps
    an image (``images/<name>``); its ``vsphere://`` location."""
    inventory = backend.inventory()
    store = min(inventory.datastores.values(), key=lambda ds: ds.name)
    found = located.DatastoreFile(simulator.host, inventory.datacenters[store.datacenter].name,
                                  store.name, 'images/%s' % name)
    with open(path, 'rb') as data:
        requests.put(found.http_url(simulator.port), data=data, verify=simulator.ca_file,
                     headers={'Cookie': leases.session_cookie(backend.client)},
                     timeout=30).raise_for_status()
    query = found.http_url(simulator.port).split('?', 1)[1]
    return 'vsphere://%s/folder/images/%s?%s' % (host or simulator.host, name, query)


def sparse_image(glance, backend, simulator, raw_file, tmp_path, **props):
    """A monolithicSparse image kept as glance_store's VMware store does: a file named after
    the image id (which its descriptor's extent names) on a datastore of the simulator."""
    image_id = glance.add(converted(raw_file, 'vmdk', 'subformat=monolithicSparse'), 'vmdk',
                          **props)
    path = tmp_path / image_id
    qemu_img('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse',
             str(raw_file), str(path))
    with open(path, 'rb') as data:
        glance.update(None, image_id, {}, data=data, purge_props=False)
    glance.locations[image_id] = [on_datastore(backend, simulator, path, image_id)]
    return image_id


def test_image_on_a_datastore_of_this_vcenter_is_copied_there(
        raw_file, glance, tmp_dir, image_ops, backend, simulator, tmp_path):
    image_id = sparse_image(glance, backend, simulator, raw_file, tmp_path,
                            vmware_disktype='sparse')
    meta = formats.ImageMeta.from_glance(glance.show(None, image_id))
    urls = located.locations_of(glance.get_location(None, image_id))
    request = request_for(GiB)
    simulator.reset_stats()
    ref = image_ops.from_location(meta, urls, request, uuid.uuid4().hex)
    stats = simulator.stats()
    try:
        assert stats.nfc_bytes_uploaded == stats.nfc_bytes_downloaded == 0
        assert glance.downloads == 0
        assert stats.calls['CopyVirtualDisk_Task'] == 1
        assert 'ImportVApp' not in stats.calls
        assert [vm.value for vm in vms_named(backend, request.name)] == [ref]
        assert backend.describe(ref).size_bytes == GiB
        exported = export_to_raw(image_ops, ref, GiB, glance, tmp_path)
    finally:
        backend.backings.delete(ref)
    assert exported[:RAW_SIZE] == raw_file.read_bytes()
    assert not exported[RAW_SIZE:].strip(b'\0')


@pytest.mark.parametrize('case', ['another vCenter', 'streamOptimized file',
                                  'sparse file naming another extent', 'unknown datastore',
                                  'missing file', 'not vsphere'])
def test_image_location_not_copyable_here_falls_back_to_the_import(
        case, raw_file, glance, image_ops, backend, simulator, soap_calls):
    stream = converted(raw_file, 'vmdk', 'subformat=streamOptimized')
    image_id = glance.add(stream, 'vmdk', vmware_disktype='streamOptimized')
    neighbour = converted(raw_file, 'vmdk', 'subformat=monolithicSparse')
    url = {
        'sparse file naming another extent': lambda: on_datastore(backend, simulator,
                                                                  neighbour, image_id),
        'another vCenter': lambda: on_datastore(backend, simulator, stream, image_id,
                                                host='vc2.example.com'),
        'streamOptimized file': lambda: on_datastore(backend, simulator, stream, image_id),
        'unknown datastore': lambda: on_datastore(
            backend, simulator, stream, image_id).replace('dsName=', 'dsName=gone'),
        'missing file': lambda: on_datastore(backend, simulator, stream, image_id).replace(
            image_id, 'gone-' + image_id),
        'not vsphere': lambda: 'file:///var/lib/glance/images/%s' % image_id,
    }[case]()
    meta = formats.ImageMeta.from_glance(glance.show(None, image_id))
    request = request_for()
    simulator.reset_stats()     # not the set-up's calls (its inventory read, if stale)
    assert image_ops.from_location(meta, [url], request, uuid.uuid4().hex) is None
    assert soap_calls().total == 0
    assert vms_named(backend, request.name) == []


@pytest.fixture
def canaries(tmp_path):
    """A secret file of the host and a listening socket no image may reach."""
    secret = tmp_path / 'cinder.conf'
    secret.write_bytes(hostile.SECRET)
    listener = hostile.Listener()
    yield secret, listener
    listener.close()


ENTRY_POINTS = ('cache fill', 'no cache', 'into an existing backing')
STREAMED_TO_THEIR_END = ('stream cut in half', 'vSphere stream without its end')


@pytest.mark.parametrize('entry', ENTRY_POINTS)
@pytest.mark.parametrize('case', hostile.REFUSED_EVERYWHERE)
def test_hostile_or_corrupt_image_is_refused_and_leaves_nothing(
        case, entry, raw_file, glance, tmp_dir, image_ops, backend, simulator, canaries,
        tmp_path, monkeypatch):
    secret, listener = canaries
    data, props, message = hostile.refused_everywhere(case, raw_file, secret, listener.port,
                                                      tmp_path)
    path = tmp_path / 'hostile.vmdk'
    path.write_bytes(data)
    image_id = glance.add(path, 'vmdk', **props)
    if entry == 'no cache':
        _cache_config(backend, monkeypatch, enabled=False)
    request, project = request_for(), uuid.uuid4().hex
    existing = backend.create_backing(request, project) if entry.startswith('into') else None
    log = hostile.traced(tmp_path, monkeypatch)
    simulator.reset_stats()
    try:
        with pytest.raises(formats.ImageUnacceptable, match=message):
            image_ops.import_image(image_data(glance, image_id), request, project,
                                   existing=existing)
        calls = simulator.stats().calls
        assert [vm.value for vm in vms_named(backend, request.name)] == \
            ([existing] if existing else [])
    finally:
        if existing:
            backend.backings.delete(existing)
    assert vms_named(backend, request.name + '-image') == []
    assert _template_names(backend, image_id) == []
    assert list(tmp_dir.iterdir()) == []
    assert listener.connections == 0
    if case in STREAMED_TO_THEIR_END:       # refused at the end: the lease was aborted
        assert calls['HttpNfcLeaseAbort'] == 1 and 'HttpNfcLeaseComplete' not in calls
    else:                                   # refused before anything was made
        assert set(calls) <= READS
    assert not log.exists()                 # refused before qemu-img would have run


@pytest.mark.parametrize('case', ['sparse, parent hint to a host file',
                                  'sparse, parent hint to nbd://', 'sparse delta (vmfsSparse)',
                                  'sparse, extent at an absolute path', 'sparse, two extents'])
def test_hostile_image_on_a_datastore_is_refused_not_copied(
        case, raw_file, glance, image_ops, backend, simulator, canaries, tmp_path):
    secret, listener = canaries
    data, _props, message = hostile.refused_everywhere(case, raw_file, secret, listener.port,
                                                       tmp_path)
    image_id = glance.add(raw_file, 'vmdk', vmware_disktype='sparse')
    path = tmp_path / image_id
    path.write_bytes(data)
    url = on_datastore(backend, simulator, path, image_id)
    meta = formats.ImageMeta.from_glance(glance.show(None, image_id))
    request = request_for()
    simulator.reset_stats()
    with pytest.raises(formats.ImageUnacceptable, match=message):
        image_ops.from_location(meta, [url], request, uuid.uuid4().hex)
    stats = simulator.stats()
    assert 'CopyVirtualDisk_Task' not in stats.calls and 'CreateVM_Task' not in stats.calls
    assert vms_named(backend, request.name) == []
    assert listener.connections == 0


@pytest.mark.parametrize('kind', ['vmdk-streamOptimized', 'qcow2'])
def test_glance_stream_dropped_midway_is_blamed_on_glance(kind, raw_file, glance, tmp_dir,
                                                          image_ops, backend):
    """glanceclient raises requests' ChunkedEncodingError when Glance's connection drops:
    the failure names Glance, not the NFC PUT it was feeding."""
    path, disk_format, container, props = FORMATS[kind](raw_file)
    image_id = glance.add(path, disk_format, container, **props)
    meta = formats.ImageMeta.from_glance(glance.show(None, image_id))

    def dropped():
        sent = 0
        for chunk in glance.download(None, image_id):
            if sent > path.stat().st_size * 3 // 4:
                raise requests.exceptions.ChunkedEncodingError('Connection broken: '
                                                               'IncompleteRead')
            sent += len(chunk)
            yield chunk
    request = request_for()
    with pytest.raises(transfer.TransferFailed, match='reading its data from Glance failed '
                       'after .*check the image service.*vCenter is not at fault'):
        image_ops.import_image(importer.ImageData(meta, dropped), request, uuid.uuid4().hex)
    assert vms_named(backend, request.name) == []
    assert _template_names(backend, image_id) == []
    assert list(tmp_dir.iterdir()) == []


@pytest.mark.parametrize('case', ['sparse, parent hint to a host file',
                                  'stream, parent hint to a host file', 'stream cut in half'])
def test_hostile_disk_inside_an_ova_is_refused(case, raw_file, glance, tmp_dir, image_ops,
                                               backend, canaries, tmp_path):
    secret, listener = canaries
    data, props, message = hostile.refused_everywhere(case, raw_file, secret, listener.port,
                                                      tmp_path)
    disk = tmp_path / 'hostile.vmdk'
    disk.write_bytes(data)
    image_id = glance.add(ova(disk), 'vmdk', 'ova', **props)
    request = request_for()
    with pytest.raises(formats.ImageUnacceptable, match=message):
        image_ops.import_image(image_data(glance, image_id), request, uuid.uuid4().hex)
    assert vms_named(backend, request.name) == []
    assert list(tmp_dir.iterdir()) == [] and listener.connections == 0


def test_sparse_file_on_a_datastore_pointing_past_its_end_is_refused(
        raw_file, glance, image_ops, backend, simulator, tmp_path):
    image_id = glance.add(raw_file, 'vmdk', vmware_disktype='sparse')
    path = tmp_path / image_id          # its extent named after the file, as the store keeps it
    path.write_bytes(hostile.table_past_end(hostile.sparse(raw_file, path)))
    url = on_datastore(backend, simulator, path, image_id)
    meta = formats.ImageMeta.from_glance(glance.show(None, image_id))
    request = request_for()
    simulator.reset_stats()
    with pytest.raises(formats.ImageUnacceptable, match='grain table 0 points past the end'):
        image_ops.from_location(meta, [url], request, uuid.uuid4().hex)
    assert simulator.stats().total == 0
    assert vms_named(backend, request.name) == []
