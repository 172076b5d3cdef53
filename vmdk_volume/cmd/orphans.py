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

"""``vmdk-volume orphans``: what the driver made on vCenter that no Cinder volume or snapshot
owns any more, listed and, with ``--delete``, removed.

One property-collector call over a container view reads every VM, datastore and datacenter.
Candidates are the VMs carrying our extraConfig marks: ``cinder.volume.id`` (backings,
template snapshots, ``-retyped`` copies) or ``cinder.image.id`` (image-cache templates, and
imports into the cache that never became templates); an unmanaged VM keeps ``managedBy`` but
loses its mark, so it is never a candidate. VM snapshots of backings are candidates too:
``snapshot-<id>`` (COW snapshots) and ``clone-<volume id>`` (bases of linked clones). A
candidate is an orphan when the id it carries is not among the ids Cinder owns; a ``-retyped``
copy also when its volume's backing exists beside it; an unfinished cache import always; the
``volume-<id>-image`` VM of an import into a backing (``cinder.image.import``) once its
volume is gone.

Stray files are VMDKs in our folders (``volume-``, ``snapshot-`` or ``image-<id>`` at a
datastore's root) that no VM's disk uses, found with one datastore search task per accessible
datastore. Image-cache templates are owned by the cache, not orphans: whether their image
still exists in Glance cannot be told from here, so they are listed apart and deleted only
with ``--delete --include-cache`` (a driver meeting a removed entry imports the image again).

Volumes come and go while it runs, so (``sweep``) Cinder's ids are read after vCenter and
again before each deletion, nothing younger than the grace period before the scan began
(vCenter's clock) is deleted, and each candidate's mark is read again just before it goes.
"""

import collections
import dataclasses
import datetime
import enum
import re
import sys
from collections.abc import Callable, Iterable

from vmdk_volume.core import backend as vbackend
from vmdk_volume.core.config import BackendConfig
from vmdk_volume.core.images.cache import IMAGE_ID_KEY
from vmdk_volume.core.retype import RETYPED_SUFFIX
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import datastore_files, devices, errors, properties, specs
from vmdk_volume.vsphere.vm import Snapshot, VirtualMachine, read_all

_UUID = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
_SNAPSHOT_NAME = re.compile(r'^(snapshot|clone)-(%s)$' % _UUID)
_OUR_FOLDER = re.compile(r'^\[[^\]]+\] (?:volume|snapshot|image)-(%s)[^/]*/' % _UUID)
_PATHS = {
    'VirtualMachine': ('name', 'config.template', 'config.extraConfig', 'config.createDate',
                       'config.hardware.device', 'layoutEx.file', 'snapshot'),
    'Datastore': ('name', 'browser', 'summary.accessible'),
    'Datacenter': ('datastore',),
}


class Kind(enum.StrEnum):
    BACKING = 'backing'
    TEMPLATE = 'template'            # a template snapshot
    TEMPORARY = 'temporary'          # a -retyped copy, or an unfinished image-cache import
    VM_SNAPSHOT = 'vm snapshot'      # a COW snapshot, or the base of a linked clone
    FILE = 'file'                    # a VMDK in one of our folders that no VM uses
    CACHE = 'cache entry'            # an image-cache template: listed, but not an orphan


@dataclasses.dataclass(frozen=True)
class Orphan:
    kind: Kind
    name: str                        # the VM's or snapshot's name, or the file's path
    ref: str                         # moref value: VM, VirtualMachineSnapshot or Datastore
    owner_id: str                    # the volume, snapshot or image id it carries
    vm: str = ''                     # for a VM snapshot: its backing's name
    datacenter: str = ''             # for a file: its datacenter's moref value
    created: datetime.datetime | None = None     # None: vCenter does not say (before 6.7)
    parent: str = ''                 # a VM snapshot's VM, or the backing beside a -retyped copy


Owned = frozenset[str] | Callable[[], frozenset[str]]


def find(client: vclient.Client, owned: Owned) -> list[Orphan]:
    """Our objects on this vCenter that nothing in ``owned`` owns, and the image-cache
    entries (``Kind.CACHE``): one property read, one search task per datastore. A callable
    ``owned`` is called once vCenter has been read."""
    items = _read(client)
    vms = [item for item in items if item.ref._type == 'VirtualMachine']
    files = _stray_files(client, items, _used_files(vms))
    found = _vm_orphans(vms, owned() if callable(owned) else owned) + files
    return sorted(found, key=lambda o: (o.kind, o.name, o.ref))


def delete(client: vclient.Client, orphan: Orphan) -> bool:
    """Remove ``orphan``; False if it was gone already."""
    if orphan.kind is Kind.FILE:
        return datastore_files.delete_disk(client, orphan.name, orphan.datacenter)
    try:
        if orphan.kind is Kind.VM_SNAPSHOT:
            Snapshot(client, orphan.ref).remove()
        else:
            VirtualMachine(client, orphan.ref).destroy()
    except errors.NotFound:
        return False
    return True


def _read(client: vclient.Client, paths=_PATHS) -> list[properties.Item]:
    return properties.collect_all(client, paths)


def _vm_orphans(vms: list[properties.Item], owned: frozenset[str]) -> list[Orphan]:
    marked = [(item, properties.options(item.get('config.extraConfig'))) for item in vms]
    backed = _backed(marked)
    found = []
    for item, extra in marked:
        kind = _kind(item, extra, owned, backed)
        if kind is not None:
            owner = _owner(extra)
            beside = backed.get(owner, '') if _retyped(item) else ''
            found.append(Orphan(kind, item.get('name'), item.value, owner,
                                created=item.get('config.createDate'), parent=beside))
        elif extra.get(specs.VOLUME_ID_KEY):
            found += _orphan_snapshots(item, owned)
    return found


def _owner(extra: dict[str, str]) -> str:
    """The id a marked VM carries: its volume's, else its image's or its import's volume."""
    return (extra.get(specs.VOLUME_ID_KEY) or extra.get(IMAGE_ID_KEY)
            or extra.get(specs.IMPORT_KEY) or '')


def _backed(marked: list[tuple[properties.Item, dict[str, str]]]) -> dict[str, str]:
    """The VM (moref value) of each volume id carried by a VM that is not a -retyped copy."""
    return {extra[specs.VOLUME_ID_KEY]: item.value for item, extra in marked
            if extra.get(specs.VOLUME_ID_KEY) and not _retyped(item)}


def _kind(item: properties.Item, extra: dict[str, str], owned: frozenset[str],
          backed: dict[str, str]) -> Kind | None:
    """What an orphan (or cache entry) this VM is, or None if it is owned or not ours."""
    template = bool(item.get('config.template'))
    volume = extra.get(specs.VOLUME_ID_KEY)
    if extra.get(IMAGE_ID_KEY) and not volume:  # a volume's mark comes first: clones made
        return Kind.CACHE if template else Kind.TEMPORARY  # by older releases carry both
    if extra.get(specs.IMPORT_KEY):       # an import into a volume's backing, killed midway
        return Kind.TEMPORARY if extra[specs.IMPORT_KEY] not in owned else None
    if not volume:
        return None
    if _retyped(item):
        return Kind.TEMPORARY if volume not in owned or volume in backed else None
    if volume in owned:
        return None
    return Kind.TEMPLATE if template else Kind.BACKING


def _retyped(item: properties.Item) -> bool:
    return (item.get('name') or '').endswith(RETYPED_SUFFIX)


def _orphan_snapshots(item: properties.Item, owned: frozenset[str]) -> list[Orphan]:
    info = item.get('snapshot')
    return [Orphan(Kind.VM_SNAPSHOT, tree.name, tree.snapshot.value, match.group(2),
                   vm=item.get('name'), created=getattr(tree, 'createTime', None),
                   parent=item.value)
            for tree in properties.snapshot_trees(info)
            if (match := _SNAPSHOT_NAME.match(tree.name)) and match.group(2) not in owned]


def _used_files(vms: list[properties.Item]) -> set[str]:
    """Every file path of every VM: its disks, and the whole layout (snapshot chains)."""
    used = set()
    for item in vms:
        used.update(disk.backing.fileName for disk in devices.disks(
            devices.device_list(item.get('config.hardware.device'))))
        layout = getattr(item.get('layoutEx.file'), 'VirtualMachineFileLayoutExFileInfo', None)
        used.update(f.name for f in layout or [])
    return {datastore_files.normalize(path) for path in used}


def _stray_files(client: vclient.Client, items: list[properties.Item],
                 used: set[str]) -> list[Orphan]:
    datacenter_of = {ds.value: item.value for item in items if item.ref._type == 'Datacenter'
                     for ds in _refs(item.get('datastore'))}
    found = []
    for item in items:
        if item.ref._type != 'Datastore' or not item.get('summary.accessible'):
            continue
        disks = datastore_files.disks(client, item.get('browser'), item.get('name'))
        for path, modified in disks.items():
            match = _OUR_FOLDER.match(path)
            if match and path not in used:
                found.append(Orphan(Kind.FILE, path, item.value, match.group(1),
                                    datacenter=datacenter_of.get(item.value, ''),
                                    created=modified))
    return found


def _refs(value) -> Iterable:
    return getattr(value, 'ManagedObjectReference', None) or []


# -- checked again just before deletion ----------------------------------------------------

_MARK = ('name', 'config.template', 'config.extraConfig')
_DISKS = {'VirtualMachine': ('config.hardware.device', 'layoutEx.file')}


def sweep(client: vclient.Client, owned: Callable[[], frozenset[str]],
          grace: datetime.timedelta, remove: Callable[[Orphan], bool]):
    """Each orphan and cache entry (cache entries last), and what became of it: '' (listed),
    'deleted', 'gone already' or 'skipped, <why>'. ``owned`` is read after the scan and again
    before each deletion; what may be younger than ``grace`` before the scan began is
    skipped, and what ``remove`` picks is deleted if a last read shows it unchanged."""
    limit = _now(client) - grace
    for orphan in sorted(find(client, owned), key=lambda o: o.kind is Kind.CACHE):
        if young := too_young(orphan, limit, grace):
            yield orphan, 'skipped, %s' % young
        elif remove(orphan):
            yield orphan, _dispose(client, orphan, owned())
        else:
            yield orphan, ''


def too_young(orphan: Orphan, limit: datetime.datetime, grace: datetime.timedelta) -> str:
    """Why ``orphan`` may be younger than ``limit`` ('' if it is not): made after it, or of
    unknown age while there is a grace period to keep (with none, the re-reads decide)."""
    if orphan.created is None:
        return 'age unknown' if grace else ''
    return 'too new' if orphan.created > limit else ''


def _now(client: vclient.Client) -> datetime.datetime:
    return client.current_time()


def _dispose(client: vclient.Client, orphan: Orphan, owned: frozenset[str]) -> str:
    try:
        why = _changed(client, orphan, owned)
    except errors.NotFound:
        return 'gone already'
    if why:
        return 'skipped, %s' % why
    return 'deleted' if delete(client, orphan) else 'gone already'


def _changed(client: vclient.Client, orphan: Orphan, owned: frozenset[str]) -> str:
    """Why ``orphan`` is no orphan any more ('' if it still is): one property read (for a
    file, of every VM's disks); ``errors.NotFound`` if it is gone."""
    if orphan.kind is Kind.FILE:
        return 'in use' if orphan.name in _used_files(_read(client, _DISKS)) else ''
    if orphan.kind is Kind.VM_SNAPSHOT:
        return _snapshot_changed(client, orphan, owned)
    items = _fetch_vms(client, [orphan.ref, orphan.parent] if orphan.parent else [orphan.ref])
    marked = [(item, properties.options(item.get('config.extraConfig'))) for item in items]
    mine = [pair for pair in marked if pair[0].value == orphan.ref]
    if not mine:
        raise errors.NotFound('ManagedObjectNotFound',
                              'VM %s (%s) is gone' % (orphan.name, orphan.ref))
    item, extra = mine[0]
    kind = _kind(item, extra, owned, _backed(marked))
    if (item.get('name'), _owner(extra)) != (
            orphan.name, orphan.owner_id) or kind not in (orphan.kind, None):
        return 'changed'
    return 'owned' if kind is None else ''


def _fetch_vms(client: vclient.Client, values: list[str]) -> list[properties.Item]:
    """The marks of these VMs; the first must exist (``errors.NotFound``), others may not."""
    try:
        return read_all(client, values, _MARK)
    except errors.NotFound:
        if len(values) == 1:
            raise
        return read_all(client, values[:1], _MARK)


def _snapshot_changed(client: vclient.Client, orphan: Orphan, owned: frozenset[str]) -> str:
    info = VirtualMachine(client, orphan.parent).read(['snapshot']).get('snapshot')
    trees = [t for t in properties.snapshot_trees(info) if t.snapshot.value == orphan.ref]
    if not trees:
        raise errors.NotFound('ManagedObjectNotFound', 'snapshot %s of %s is gone'
                             % (orphan.ref, orphan.vm))
    if trees[0].name != orphan.name:
        return 'changed'
    return 'owned' if orphan.owner_id in owned else ''


# -- the command ---------------------------------------------------------------------------

def owned_reader(files: tuple[str, ...], conf, from_stdin: bool) -> Callable[[], frozenset[str]]:
    """What reads the ids Cinder owns: Cinder's database each time, or stdin
    (whitespace-separated) once."""
    if from_stdin:
        ids = frozenset(sys.stdin.read().split())
        return lambda: ids
    if not conf.database_connection:
        from vmdk_volume.cmd.cinderconf import ConfFileError
        raise ConfFileError('%s has no [database] connection to read Cinder\'s volumes '
                            'from: set it, or pass their ids with --ids-from-stdin'
                            % ', '.join(files))
    from vmdk_volume.cmd import cinderdb
    return lambda: cinderdb.owned_ids(files)


def run(files: tuple[str, ...], conf, args) -> int:
    """List (and with ``args.delete`` remove) the orphans of each backend's vCenter, and its
    image-cache entries (removed with ``args.include_cache`` too)."""
    sections = conf.ours(args.backend)
    owned = owned_reader(files, conf, args.ids_from_stdin)
    grace = datetime.timedelta(minutes=args.grace_minutes)

    def remove(orphan: Orphan) -> bool:
        return args.delete and (orphan.kind is not Kind.CACHE or args.include_cache)

    seen = set()
    counts = collections.Counter()
    for section in sections:
        config = BackendConfig.from_options(section)
        if config.endpoint.address in seen:      # two sections on one vCenter: look once
            continue
        seen.add(config.endpoint.address)
        client = vbackend.Backend.connect(config).client
        try:
            for orphan, status in sweep(client, owned, grace, remove):
                print(_line(section.name, orphan, status), flush=True)
                counts[_counted(orphan, status)] += 1
        finally:
            client.close()
    print(_summary(counts, args.delete, args.delete and args.include_cache))
    return 0


def _line(backend: str, orphan: Orphan, status: str) -> str:
    where = ' of %s' % orphan.vm if orphan.vm else ''
    line = '%s  %-12s %s%s (%s) id %s' % (backend, orphan.kind, orphan.name, where,
                                         orphan.ref, orphan.owner_id or '-')
    return '%s: %s' % (line, status) if status else line


def _counted(orphan: Orphan, status: str) -> str:
    if status.startswith('skipped'):
        return 'skipped'
    return 'cached' if orphan.kind is Kind.CACHE else 'orphans'


def _summary(counts: collections.Counter, deleted: bool, cache_deleted: bool) -> str:
    orphans, cached, skipped = counts['orphans'], counts['cached'], counts['skipped']
    line = '%d orphan%s' % (orphans, '' if orphans == 1 else 's')
    if orphans:
        line += ' deleted' if deleted else ' (vmdk-volume orphans --delete removes them)'
    if cached:
        line += '; %d image-cache entr%s %s' % (
            cached, 'y' if cached == 1 else 'ies', 'deleted' if cache_deleted else
            '(kept: the cache owns them; --delete --include-cache removes them too)')
    if skipped:
        line += '; %d skipped (younger than the grace period, or changed since the scan)' % (
            skipped)
    return line
