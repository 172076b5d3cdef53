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
"""

import dataclasses
import enum
import re
import sys
from collections.abc import Iterable

from vmdk_volume import backend as vbackend
from vmdk_volume import backings as vbackings
from vmdk_volume.images import IMPORT_KEY
from vmdk_volume.images.cache import IMAGE_ID_KEY
from vmdk_volume.options import BackendConfig
from vmdk_volume.retype import RETYPED_SUFFIX
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import datastore_files, properties, specs

_UUID = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
_SNAPSHOT_NAME = re.compile(r'^(snapshot|clone)-(%s)$' % _UUID)
_OUR_FOLDER = re.compile(r'^\[[^\]]+\] (?:volume|snapshot|image)-(%s)[^/]*/' % _UUID)
_PATHS = {
    'VirtualMachine': ('name', 'config.template', 'config.extraConfig',
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


def find(client: vclient.Client, owned: frozenset[str]) -> list[Orphan]:
    """Our objects on this vCenter that nothing in ``owned`` owns, and the image-cache
    entries (``Kind.CACHE``): one property read, one search task per datastore."""
    items = _read(client)
    vms = [item for item in items if item.ref._type == 'VirtualMachine']
    found = _vm_orphans(vms, owned) + _stray_files(client, items, _used_files(vms))
    return sorted(found, key=lambda o: (o.kind, o.name, o.ref))


def delete(client: vclient.Client, orphan: Orphan) -> bool:
    """Remove ``orphan``; False if it was gone already."""
    if orphan.kind is Kind.FILE:
        return datastore_files.delete_disk(client, orphan.name, orphan.datacenter)
    backings = vbackings.Backings(client)
    if orphan.kind is Kind.VM_SNAPSHOT:
        return backings.remove_snapshot(orphan.ref)
    return backings.delete(orphan.ref)


def _read(client: vclient.Client) -> list[properties.Item]:
    view = properties.container_view(client, client.content.rootFolder, list(_PATHS))
    try:
        return properties.collect(client, view, _PATHS)
    finally:
        client.call('DestroyView', view)


def _vm_orphans(vms: list[properties.Item], owned: frozenset[str]) -> list[Orphan]:
    marked = [(item, properties.options(item.get('config.extraConfig'))) for item in vms]
    backed = {extra.get(specs.VOLUME_ID_KEY) for item, extra in marked
              if not _retyped(item)} - {None, ''}
    found = []
    for item, extra in marked:
        kind = _kind(item, extra, owned, backed)
        if kind is not None:
            owner = (extra.get(IMAGE_ID_KEY) or extra.get(IMPORT_KEY)
                     or extra[specs.VOLUME_ID_KEY])
            found.append(Orphan(kind, item.get('name'), item.value, owner))
        elif extra.get(specs.VOLUME_ID_KEY):
            found += _orphan_snapshots(item, owned)
    return found


def _kind(item: properties.Item, extra: dict[str, str], owned: frozenset[str],
          backed: set[str]) -> Kind | None:
    """What an orphan (or cache entry) this VM is, or None if it is owned or not ours."""
    template = bool(item.get('config.template'))
    if extra.get(IMAGE_ID_KEY):
        return Kind.CACHE if template else Kind.TEMPORARY
    if extra.get(IMPORT_KEY):       # an import into a volume's backing, killed midway
        return Kind.TEMPORARY if extra[IMPORT_KEY] not in owned else None
    volume = extra.get(specs.VOLUME_ID_KEY)
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
                   vm=item.get('name'))
            for tree in properties.snapshot_trees(info)
            if (match := _SNAPSHOT_NAME.match(tree.name)) and match.group(2) not in owned]


def _used_files(vms: list[properties.Item]) -> set[str]:
    """Every file path of every VM: its disks, and the whole layout (snapshot chains)."""
    used = set()
    for item in vms:
        devices = getattr(item.get('config.hardware.device'), 'VirtualDevice', None) or []
        used.update(d.backing.fileName for d in devices if type(d).__name__ == 'VirtualDisk')
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
        for path in datastore_files.disks(client, item.get('browser'), item.get('name')):
            match = _OUR_FOLDER.match(path)
            if match and path not in used:
                found.append(Orphan(Kind.FILE, path, item.value, match.group(1),
                                    datacenter=datacenter_of.get(item.value, '')))
    return found


def _refs(value) -> Iterable:
    return getattr(value, 'ManagedObjectReference', None) or []


# -- the command ---------------------------------------------------------------------------

def owned_ids(files: tuple[str, ...], conf, from_stdin: bool) -> frozenset[str]:
    """The ids Cinder owns: from stdin (whitespace-separated) or Cinder's database."""
    if from_stdin:
        return frozenset(sys.stdin.read().split())
    if not conf.database_connection:
        from vmdk_volume.cinderconf import ConfFileError
        raise ConfFileError('%s has no [database] connection to read Cinder\'s volumes '
                            'from: set it, or pass their ids with --ids-from-stdin'
                            % ', '.join(files))
    from vmdk_volume import cinderdb
    return cinderdb.owned_ids(files)


def run(files: tuple[str, ...], conf, args) -> int:
    """List (and with ``args.delete`` remove) the orphans of each backend's vCenter, and its
    image-cache entries (removed with ``args.include_cache`` too)."""
    sections = conf.ours(args.backend)
    owned = owned_ids(files, conf, args.ids_from_stdin)
    seen = set()
    orphans = cached = 0
    for section in sections:
        config = BackendConfig.from_options(section)
        if config.endpoint.address in seen:      # two sections on one vCenter: look once
            continue
        seen.add(config.endpoint.address)
        client = vbackend.Backend.connect(config).client
        try:
            found = find(client, owned)
            lost = [o for o in found if o.kind is not Kind.CACHE]
            cache = [o for o in found if o.kind is Kind.CACHE]
            orphans += _report(section.name, client, lost, args.delete)
            cached += _report(section.name, client, cache, args.delete and args.include_cache)
        finally:
            client.close()
    print(_summary(orphans, cached, args.delete, args.delete and args.include_cache))
    return 0


def _report(backend: str, client: vclient.Client, orphans: list[Orphan], remove: bool) -> int:
    for orphan in orphans:
        where = ' of %s' % orphan.vm if orphan.vm else ''
        line = '%s  %-12s %s%s (%s) id %s' % (backend, orphan.kind, orphan.name, where,
                                             orphan.ref, orphan.owner_id or '-')
        if remove:
            line += ': deleted' if delete(client, orphan) else ': gone already'
        print(line, flush=True)
    return len(orphans)


def _summary(orphans: int, cached: int, deleted: bool, cache_deleted: bool) -> str:
    line = '%d orphan%s' % (orphans, '' if orphans == 1 else 's')
    if orphans:
        line += ' deleted' if deleted else ' (vmdk-volume orphans --delete removes them)'
    if cached:
        line += '; %d image-cache entr%s %s' % (
            cached, 'y' if cached == 1 else 'ies', 'deleted' if cache_deleted else
            '(kept: the cache owns them; --delete --include-cache removes them too)')
    return line
