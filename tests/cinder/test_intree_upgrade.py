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

"""An operator switches ``volume_driver`` from Cinder's in-tree VMDK driver to ours.

Cinder's in-tree driver, loaded by Cinder's own VolumeManager (``tests.cinder.intree``), makes
volumes and snapshots on a vCenter of their own; then the same database rows are served by our
driver on the same backend section, for each ``vmware_snapshot_format``. Data is checked in
the simulator's disk files; at the end nothing the in-tree driver or ours made is left.
"""

import collections.abc
import json
import subprocess
import sys

import pytest
from cinder import exception, objects
from vmdk_volume_simkit import ModelSize, Simulator
from vmdk_volume_simkit.harness.cinder import PROJECT_ID, write_cinder_conf

from tests import vcenter
from tests.cinder import intree
from vmdk_volume.cmd import orphans
from vmdk_volume.vsphere import inventory, properties
from vmdk_volume.vsphere.disks import DiskType


@pytest.fixture(scope='module')
def legacy_vc():
    """A vCenter that only the in-tree driver and then ours use."""
    with Simulator(ModelSize(hosts=2, datastores=2)) as vc:
        yield vc


SECTIONS = {'legacy-template': 'template', 'legacy-cow': 'COW'}
SNAPSHOTS = ('snapshot', 'lazy_snapshot', 'attached_snapshot')     # roles, see intree._make
GiB = 1024 ** 3


@pytest.fixture(scope='module')
def produced(cinder, legacy_vc, tmp_path_factory) -> dict:
    """What the in-tree driver made, per backend section, in the session's database."""
    return intree.produce(cinder.database, legacy_vc, SECTIONS,
                          tmp_path_factory.mktemp('in-tree'))


class Upgraded:
    """The in-tree driver's objects, now served by our driver's VolumeManager."""

    def __init__(self, cinder, section: str, manager, made: dict):
        self.cinder, self.section, self.manager, self.made = cinder, section, manager, made
        self.snapshot_format = SECTIONS[section]
        self.client = vcenter.of(manager.driver).client

    def volume(self, role: str):
        return objects.Volume.get_by_id(self.cinder.context, self.made[role])

    def snapshot(self, role: str):
        return objects.Snapshot.get_by_id(self.cinder.context, self.made[role])

    def create_volume(self, **source):
        volume = self.cinder.new_volume(self.section, **source)
        self.manager.create_volume(self.cinder.context, volume)
        volume.refresh()
        return volume

    def data(self, vm) -> bytes:
        ref = self.client.ref('VirtualMachine', vm) if isinstance(vm, str) else vm
        return intree.disk_file(intree.reader(self.client), ref).read_bytes()

    def backing(self, volume_id: str) -> str | None:
        found = self.client.call('FindAllByUuid', self.client.content.searchIndex,
                                 uuid=volume_id, vmSearch=True, instanceUuid=True)
        return found[0].value if found else None

    def vm_names(self) -> set[str]:
        return {item.get('name') for item in inventory.virtual_machines(self.client, ['name'])}


@pytest.fixture(scope='module', params=sorted(SECTIONS))
def upgraded(request, cinder, legacy_vc, produced) -> collections.abc.Iterator[Upgraded]:
    section = request.param
    made = produced[section]
    assert made['statuses'] == ['available'], made
    manager = cinder.add_backend(section, legacy_vc,
                                 {'vmware_snapshot_format': SECTIONS[section]})
    yield Upgraded(cinder, section, manager, made)
    cinder.remove_backend(section)    # its simulator ends with this module


def test_check_counts_what_the_intree_driver_left_and_names_what_cannot_be_served(
        upgraded, legacy_vc, tmp_path):
    """First, before our driver records anything: ``vmdk-volume check`` on the database, with
    a snapshot whose provider_location is nobody's and two VMs named after a volume without
    backing (as if an old release had made them)."""
    conf = write_cinder_conf(tmp_path, {upgraded.section: legacy_vc}, {},
                             database=upgraded.cinder.database)
    bogus = objects.Snapshot(context=upgraded.cinder.context, volume_id=upgraded.made['lazy'],
                             volume_size=1, status='available', project_id=PROJECT_ID,
                             user_id='u', provider_location='nfs://filer/snap')
    bogus.create()
    lazy = upgraded.made['lazy']
    twins = _copies_named(upgraded.client, _named(upgraded, 'old'), 'volume-%s' % lazy)
    try:
        findings = _intree_findings(conf, upgraded.section)
    finally:
        bogus.destroy()
        for twin in twins:
            upgraded.client.run('Destroy_Task', twin)
    assert [(f['status'], f['subject']) for f in findings] == [
        ('error', bogus.id), ('error', lazy), ('ok', '')]
    assert "'nfs://filer/snap'" in findings[0]['detail']
    assert findings[1]['detail'].startswith('volume %s: 2 VMs are named volume-%s (' % (
        lazy, lazy))
    assert all(twin.value in findings[1]['detail'] for twin in twins)
    templates = 2 if upgraded.snapshot_format == 'template' else 0     # one of an attached
    assert findings[2]['detail'] == (
        '%d volumes with no recorded backing (the in-tree driver\'s, or never attached): '
        'found by instanceUuid, or by name; 1 backings of old in-tree releases among them '
        '(no instanceUuid): found by name, marked at first use; %d in-tree template '
        'snapshots (inventory path): found by path; %d snapshots with nothing recorded (in-tree '
        'COW, or of a volume without backing): found by name in the backing; 0 volumes and '
        'snapshots recorded by this driver: they will be served' % (
            10 + templates // 2, templates, 2 - templates // 2))


def _intree_findings(conf, section: str) -> list[dict]:
    done = subprocess.run([sys.executable, '-m', 'vmdk_volume.cmd.main', 'check', '--json',
                           '--config-file', str(conf), '--backend', section],
                          capture_output=True, text=True, timeout=120)
    return [f for f in json.loads(done.stdout)['backends'][0]['findings']
            if f['topic'] == 'in-tree']


def _named(upgraded, role: str):
    """The VM named after the volume of ``role``."""
    name = 'volume-%s' % upgraded.made[role]
    return next(upgraded.client.ref('VirtualMachine', item.value) for item in
                inventory.virtual_machines(upgraded.client, ['name'])
                if item.get('name') == name)


def _copies_named(client, vm, name: str) -> list:
    """Two clones of ``vm`` named ``name``: in its folder and in that folder's parent."""
    folder = properties.fetch_one(client, vm, ['parent'])['parent']
    parent = properties.fetch_one(client, folder, ['parent'])['parent']
    spec = client.create('VirtualMachineCloneSpec', powerOn=False, template=False,
                         location=client.create('VirtualMachineRelocateSpec'))
    return [client.run('CloneVM_Task', vm, folder=where, name=name, spec=spec)
            for where in (folder, parent)]


def test_deleting_a_migration_source_row_destroys_its_backing_not_the_migrated_one(upgraded):
    """The deletion Cinder cast at the end of the in-tree migration (see
    ``intree._migrated``), taken by our driver: the source row's ``_name_id`` names the old
    backing; the migrated one carries the row's own id."""
    source = objects.Volume.get_by_id(upgraded.cinder.context, upgraded.made['migration_source'])
    assert (source.status, source.name_id) == ('deleting', upgraded.made['migrated'])
    migrated = upgraded.backing(source.id)
    upgraded.manager.delete_volume(upgraded.cinder.context, source)
    assert upgraded.backing(upgraded.made['migrated']) is None
    assert upgraded.backing(source.id) == migrated
    assert upgraded.data(migrated) == intree.MOVED


def test_migrated_and_transferred_intree_volumes_are_served_where_they_are(upgraded):
    volume = upgraded.volume('migrated')
    assert volume.name_id == upgraded.made['migration_source'] != volume.id
    backing = vcenter.of(upgraded.manager.driver).describe(upgraded.backing(volume.name_id))
    assert backing.name == 'volume-%s' % volume.name_id
    transferred = upgraded.volume('transferred')
    assert transferred.project_id == intree.NEW_PROJECT
    assert _project_of(upgraded, upgraded.backing(transferred.id)) == intree.NEW_PROJECT


def _project_of(upgraded, vm: str) -> str:
    """The project in the name of the folder holding the folder of ``vm``."""
    client = upgraded.client
    folder = properties.fetch_one(client, client.ref('VirtualMachine', vm), ['parent'])
    project = properties.fetch_one(client, folder['parent'], ['parent'])['parent']
    return properties.fetch_one(client, project, ['name'])['name'][len('Project ('):-1]


@pytest.mark.parametrize('role', ['migrated', 'transferred'])
def test_snapshot_of_a_migrated_or_transferred_intree_volume_reverts_and_copies(upgraded,
                                                                                 role):
    """Our snapshot of it (in the volume's format): a volume from it and a revert to it have
    the data at the snapshot; its deletion leaves nothing."""
    context, manager = upgraded.cinder.context, upgraded.manager
    volume = upgraded.volume(role)
    vm = upgraded.client.ref('VirtualMachine', upgraded.backing(volume.name_id))
    disk = intree.disk_file(intree.reader(upgraded.client), vm)
    disk.write_bytes(intree.BEFORE)
    snapshot = upgraded.cinder.create_snapshot(upgraded.section, volume)
    assert snapshot.status == 'available'
    disk.write_bytes(intree.AFTER)
    copy = upgraded.create_volume(snapshot_id=snapshot.id)
    assert upgraded.data(copy.provider_location) == intree.BEFORE
    volume.status, snapshot.status = 'reverting', 'restoring'
    volume.save()
    snapshot.save()
    manager.revert_to_snapshot(context, volume, snapshot)
    assert upgraded.data(upgraded.backing(volume.name_id)) == intree.BEFORE
    names = upgraded.vm_names()
    manager.delete_snapshot(context, snapshot)
    assert [o for o in orphans.find(upgraded.client, frozenset()) if o.owner_id == snapshot.id
            ] == []
    assert upgraded.vm_names() <= names


def test_volume_from_an_intree_snapshot_holds_the_snapshots_data(upgraded):
    volume = upgraded.create_volume(snapshot_id=upgraded.made['snapshot'])
    assert volume.status == 'available'
    assert upgraded.data(volume.provider_location) == intree.BEFORE


def test_intree_volumes_hold_the_data_of_their_source_when_made(upgraded):
    """The in-tree driver's volume from its snapshot has the data written before the
    snapshot; its full and linked clones, made after, the data written since."""
    assert upgraded.data(upgraded.backing(upgraded.made['from_snapshot'])) == intree.BEFORE
    for role in ('clone', 'linked'):
        assert upgraded.data(upgraded.backing(upgraded.made[role])) == intree.AFTER, role


def test_intree_volume_from_an_image_holds_the_images_data(upgraded, tmp_path):
    """Read back through our driver: an upload of the volume, as raw bytes."""
    volume = upgraded.volume('from_image')
    assert upgraded.backing(volume.id) is not None
    glance = upgraded.cinder.images
    upload = glance.create_empty()
    upgraded.manager.copy_volume_to_image(upgraded.cinder.context, volume.id, dict(upload))
    raw = tmp_path / 'back.raw'
    subprocess.run(['qemu-img', 'convert', '-f', 'vmdk', '-O', 'raw',
                    str(glance.path(upload['id'])), str(raw)], check=True)
    with raw.open('rb') as f:
        assert f.read(len(intree.IMAGE)) == intree.IMAGE
    assert raw.stat().st_size == volume.size * GiB      # the in-tree driver grew the disk


def _virtual_size(vmdk) -> int:
    return json.loads(subprocess.run(['qemu-img', 'info', '--output=json', str(vmdk)],
                                     capture_output=True, check=True).stdout)['virtual-size']


def test_volume_from_an_intree_template_snapshot_of_an_attached_volume_holds_its_data(
        upgraded):
    if upgraded.made['attached_snapshot'] is None:
        pytest.skip('the in-tree driver refuses COW snapshots of attached volumes')
    volume = upgraded.create_volume(snapshot_id=upgraded.made['attached_snapshot'])
    assert volume.status == 'available'
    assert upgraded.data(volume.provider_location) == intree.BEFORE


def test_volume_from_a_snapshot_of_a_volume_without_backing_is_lazy(upgraded):
    volume = upgraded.create_volume(snapshot_id=upgraded.made['lazy_snapshot'])
    assert volume.status == 'available'
    assert volume.provider_location is None and upgraded.backing(volume.id) is None


def test_intree_volumes_attach_to_the_backing_they_have(upgraded):
    names = upgraded.vm_names()
    for role in ('backed', 'clone', 'linked', 'from_snapshot', 'migrated', 'transferred'):
        volume = upgraded.volume(role)
        info = upgraded.manager.initialize_connection(upgraded.cinder.context, volume,
                                                      intree.CONNECTOR)
        assert info['data']['volume'] == upgraded.backing(volume.name_id), role
    assert upgraded.vm_names() == names


def test_clone_of_an_intree_volume_copies_its_data(upgraded):
    for role in ('clone', 'linked', 'migrated', 'transferred'):
        source = upgraded.volume(role)
        volume = upgraded.create_volume(source_volid=source.id)
        assert upgraded.data(volume.provider_location) == upgraded.data(
            upgraded.backing(source.name_id)), role
        assert role not in ('clone', 'linked') or upgraded.data(
            volume.provider_location) == intree.AFTER


@pytest.mark.parametrize('role', ['from_snapshot', 'migrated', 'transferred'])
def test_intree_volume_extends(upgraded, role):
    volume = upgraded.volume(role)
    upgraded.manager.extend_volume(upgraded.cinder.context, volume, volume.size + 1,
                                   reservations=None)
    volume.refresh()
    backing = vcenter.of(upgraded.manager.driver).describe(upgraded.backing(volume.name_id))
    assert (volume.status, backing.size_bytes) == ('available', volume.size * GiB)


def test_revert_to_an_intree_snapshot_restores_its_data(upgraded, legacy_vc):
    volume, snapshot = upgraded.volume('backed'), upgraded.snapshot('snapshot')
    assert upgraded.data(upgraded.backing(volume.id)) == intree.AFTER
    volume.status, snapshot.status = 'reverting', 'restoring'     # as Cinder's API leaves them
    volume.save()
    snapshot.save()
    legacy_vc.reset_stats()
    upgraded.manager.revert_to_snapshot(upgraded.cinder.context, volume, snapshot)
    volume.refresh()
    assert volume.status == 'available'
    reverted = 'RevertToSnapshot_Task' if upgraded.snapshot_format == 'COW' else \
        'CopyVirtualDisk_Task'
    assert legacy_vc.stats().calls.get(reverted) == 1
    assert upgraded.data(upgraded.backing(volume.id)) == intree.BEFORE


def test_unrecognised_provider_locations_are_refused_naming_them(upgraded):
    driver = upgraded.manager.driver
    snapshot = upgraded.snapshot('snapshot')
    snapshot.provider_location = 'nfs://filer/snapshot-1'
    with pytest.raises(exception.InvalidSnapshot, match="%s.*'nfs://filer/snapshot-1'"
                       % snapshot.id):
        driver.create_volume_from_snapshot(upgraded.volume('lazy'), snapshot)
    volume = upgraded.volume('backed')
    volume.provider_location = 'volume-%s' % volume.id
    with pytest.raises(exception.InvalidVolume, match="%s.*'volume-%s'" % (volume.id,
                                                                          volume.id)):
        driver.extend_volume(volume, 3)


def test_backing_of_an_old_intree_release_is_found_by_name_once_then_marked(upgraded,
                                                                            legacy_vc):
    volume = upgraded.volume('old')
    names = upgraded.vm_names()
    assert upgraded.backing(volume.id) is None
    legacy_vc.reset_stats()
    info = upgraded.manager.initialize_connection(upgraded.cinder.context, volume,
                                                  intree.CONNECTOR)
    # FindAllByUuid finds nothing; one read of every VM's name built the index (here or
    # at an earlier lookup of an old volume), once per driver; one reconfigure marks it.
    calls = legacy_vc.stats().calls
    assert calls.get('RetrievePropertiesEx', 0) <= 1 and calls['ReconfigVM_Task'] == 1
    assert upgraded.vm_names() == names, 'a second backing was made'
    ref = info['data']['volume']
    backing = vcenter.of(upgraded.manager.driver).describe(ref)
    assert backing.name == 'volume-%s' % volume.id
    assert upgraded.backing(volume.id) == ref       # from now on found directly, anywhere

    legacy_vc.reset_stats()     # another old volume, without backing: no scan again
    upgraded.manager.extend_volume(upgraded.cinder.context, upgraded.volume('lazy'), 2,
                                   reservations=None)
    assert legacy_vc.stats().calls == {'FindAllByUuid': 1}


def test_the_intree_driver_started_again_attaches_the_backings_we_marked(
        upgraded, legacy_vc, tmp_path):
    """A rollback: the in-tree driver serves the old backing our driver marked, and the
    others, as before (not migrated volumes: it never finds a backing by ``_name_id``).
    Once: the marks do not depend on the snapshot format, and the in-tree driver takes
    half a minute to start."""
    if upgraded.snapshot_format != 'COW':
        pytest.skip('run for the COW section')
    roles = ('old', 'backed')
    found = intree.attached_by_intree(
        upgraded.cinder.database, legacy_vc, {upgraded.section: upgraded.snapshot_format},
        tmp_path, {upgraded.section: [upgraded.made[role] for role in roles]})
    assert found[upgraded.made['old']] == upgraded.backing(upgraded.made['old'])
    assert found[upgraded.made['backed']] == upgraded.backing(upgraded.made['backed'])


@pytest.mark.parametrize('role', ['from_snapshot', 'migrated', 'transferred'])
def test_intree_volume_retypes_in_place_keeping_its_data(upgraded, role):
    volume = upgraded.volume(role)
    thick = upgraded.cinder.volume_type('intree-thick-%s-%s' % (upgraded.section, role),
                                        {'vmware:vmdk_type': 'thick'})
    data = upgraded.data(upgraded.backing(volume.name_id))
    volume.status, volume.previous_status = 'retyping', volume.status
    volume.save()
    host = {'host': upgraded.manager.host + '#' + upgraded.section,
            'capabilities': upgraded.manager.driver.get_volume_stats()}
    upgraded.manager.retype(upgraded.cinder.context, volume, thick['id'], host,
                            migration_policy='never')
    volume.refresh()
    assert (volume.status, volume.volume_type_id) == ('available', thick['id'])
    backing = vcenter.of(upgraded.manager.driver).describe(upgraded.backing(volume.name_id))
    assert backing.disk_type is DiskType.THICK
    assert upgraded.data(backing.ref) == data


def test_intree_volume_uploads_to_an_image(upgraded):
    glance = upgraded.cinder.images
    upload = glance.create_empty()
    upgraded.manager.copy_volume_to_image(upgraded.cinder.context, upgraded.made['migrated'],
                                          dict(upload))
    meta = glance.show(None, upload['id'])
    assert meta['properties']['vmware_disktype'] == 'streamOptimized'
    assert glance.path(upload['id']).read_bytes()[:4] == b'KDMV'
    assert _virtual_size(glance.path(upload['id'])) == upgraded.volume('migrated').size * GiB


def test_transfer_of_an_intree_volume_files_its_backing_under_the_new_project(upgraded):
    volume = upgraded.volume('clone')
    upgraded.manager.driver.accept_transfer(upgraded.cinder.context, volume, 'u2', 'p-new')
    client = upgraded.client
    vm = client.ref('VirtualMachine', upgraded.backing(volume.id))
    folder = properties.fetch_one(client, vm, ['parent'])['parent']
    project = properties.fetch_one(client, folder, ['parent'])['parent']
    assert properties.fetch_one(client, project, ['name'])['name'] == 'Project (p-new)'


def test_intree_objects_are_never_listed_as_orphans(upgraded):
    context = upgraded.cinder.context
    volumes = objects.VolumeList.get_all(context)     # as cinderdb.owned_ids reads them
    owned = frozenset([v.id for v in volumes] + [v.name_id for v in volumes] +
                      [s.id for s in objects.SnapshotList.get_all(context, None)])
    listed = {orphan.name for orphan in orphans.find(upgraded.client, owned)}
    ids = [value for role, value in upgraded.made.items() if role != 'statuses' and value]
    assert [name for name in listed if any(i in name for i in ids)] == []


def test_intree_backings_and_snapshots_are_never_offered_to_manage(upgraded):
    context, manager = upgraded.cinder.context, upgraded.manager
    volumes = objects.VolumeList.get_all_by_host(context, manager.host)
    names = {'volume-%s' % v.name_id for v in volumes} | {
        'snapshot-%s' % upgraded.made[role] for role in SNAPSHOTS if upgraded.made[role]}
    listed = [entry for listing in (
        manager.get_manageable_volumes(context, None, 1000, 0, ['reference'], ['asc'],
                                       want_objects=True),
        manager.get_manageable_snapshots(context, None, 1000, 0, ['reference'], ['asc'],
                                         want_objects=True))
        for entry in listing if entry['extra_info']['name'] in names]
    assert {'volume-%s' % upgraded.volume(role).name_id for role in (
        'backed', 'old', 'migrated', 'transferred')} <= {
        entry['extra_info']['name'] for entry in listed}
    assert [e for e in listed if e['safe_to_manage']] == []
    assert all(e['cinder_id'] for e in listed)


def test_deleting_every_snapshot_and_volume_leaves_nothing_on_vcenter(upgraded):
    context, manager = upgraded.cinder.context, upgraded.manager
    snapshots = [upgraded.made[role] for role in SNAPSHOTS if upgraded.made[role]]
    for snapshot in snapshots:
        manager.delete_snapshot(context, objects.Snapshot.get_by_id(context, snapshot))
    volumes = objects.VolumeList.get_all_by_host(context, manager.host)
    for volume in volumes:
        manager.delete_volume(context, volume)
    ours = {'volume-%s' % v.name_id for v in volumes} | {'snapshot-%s' % s for s in snapshots}
    assert upgraded.vm_names() & ours == set()
    ids = {v.id for v in volumes} | {v.name_id for v in volumes} | set(snapshots)
    left = [(o.kind, o.name) for o in orphans.find(upgraded.client, frozenset())
            if o.owner_id in ids]
    assert left == []       # no VM, VM snapshot or disk file (snapshot copies included)
