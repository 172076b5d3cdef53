"""``vmdk-volume orphans``: what the driver made on vCenter that no Cinder volume or snapshot
owns any more, listed and, with ``--delete``, removed.

Candidates are the VMs carrying our marks (the ``managedBy`` extension or the
``cinder.volume.id`` extraConfig key), read with one property-collector call over a container
view: backings (``volume-<id>``), template snapshots, image-cache entries (``image-<id>``) and
temporary copies (``tmp-*``). VM snapshots of backings are candidates too: ``snapshot-<id>``
(COW snapshots) and ``clone-<volume id>`` (bases of linked clones). A candidate is an orphan
when the id it carries is not among the ids Cinder owns.
"""

import dataclasses
import enum
import re
import sys
from collections.abc import Iterator

from vmdk_volume import backend as vbackend
from vmdk_volume import backings as vbackings
from vmdk_volume.options import BackendConfig
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import properties, specs

_UUID = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
_SNAPSHOT_NAME = re.compile(r'^(snapshot|clone)-(%s)$' % _UUID)
_PATHS = ('name', 'config.template', 'config.instanceUuid', 'config.extraConfig',
          'config.managedBy', 'snapshot')


class Kind(enum.StrEnum):
    BACKING = 'backing'
    TEMPLATE = 'template'            # a template snapshot
    CACHE = 'cache entry'
    TEMPORARY = 'temporary'
    VM_SNAPSHOT = 'vm snapshot'      # a COW snapshot, or the base of a linked clone


@dataclasses.dataclass(frozen=True)
class Orphan:
    kind: Kind
    name: str
    ref: str                         # moref value (a VM, or a VirtualMachineSnapshot)
    owner_id: str                    # the volume or snapshot id it carries, or ''
    vm: str = ''                     # for a VM snapshot: its backing's name


def find(client: vclient.Client, owned: frozenset[str]) -> list[Orphan]:
    """Our objects on this vCenter whose id is not in ``owned``: one property read."""
    view = properties.container_view(client, client.content.rootFolder, ['VirtualMachine'])
    try:
        items = properties.collect(client, view, {'VirtualMachine': _PATHS})
    finally:
        client.call('DestroyView', view)
    found = []
    for item in items:
        if not _ours(item):
            continue
        owner = _owner(item)
        if owner not in owned:
            found.append(Orphan(_kind(item, owner), item.get('name'), item.value, owner or ''))
        else:
            found += _orphan_snapshots(item, owned)
    return sorted(found, key=lambda o: (o.kind, o.name, o.ref))


def delete(client: vclient.Client, orphan: Orphan) -> bool:
    """Remove ``orphan``; False if it was gone already."""
    backings = vbackings.Backings(client)
    if orphan.kind is Kind.VM_SNAPSHOT:
        return backings.remove_snapshot(orphan.ref)
    return backings.delete(orphan.ref)


def _ours(item: properties.Item) -> bool:
    managed_by = item.get('config.managedBy')
    return (getattr(managed_by, 'extensionKey', None) == specs.EXTENSION_KEY
            or specs.VOLUME_ID_KEY in _extra_config(item))


def _extra_config(item: properties.Item) -> dict[str, str]:
    options = getattr(item.get('config.extraConfig'), 'OptionValue', None) or []
    return {option.key: option.value for option in options}


def _owner(item: properties.Item) -> str | None:
    return _extra_config(item).get(specs.VOLUME_ID_KEY) or item.get('config.instanceUuid')


def _kind(item: properties.Item, owner: str | None) -> Kind:
    name = item.get('name') or ''
    if name.startswith('image-'):
        return Kind.CACHE
    if name.startswith('tmp-') or not owner:
        return Kind.TEMPORARY
    return Kind.TEMPLATE if item.get('config.template') else Kind.BACKING


def _orphan_snapshots(item: properties.Item, owned: frozenset[str]) -> list[Orphan]:
    info = item.get('snapshot')
    return [Orphan(Kind.VM_SNAPSHOT, tree.name, tree.snapshot.value, match.group(2),
                   vm=item.get('name'))
            for tree in _walk(getattr(info, 'rootSnapshotList', None) or [])
            if (match := _SNAPSHOT_NAME.match(tree.name)) and match.group(2) not in owned]


def _walk(trees) -> Iterator:
    for tree in trees:
        yield tree
        yield from _walk(getattr(tree, 'childSnapshotList', None) or [])


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
    """List (and with ``args.delete`` remove) the orphans of each backend's vCenter."""
    sections = conf.ours(args.backend)
    owned = owned_ids(files, conf, args.ids_from_stdin)
    seen = set()
    total = 0
    for section in sections:
        config = BackendConfig.from_options(section)
        if config.endpoint.address in seen:      # two sections on one vCenter: look once
            continue
        seen.add(config.endpoint.address)
        client = vbackend.Backend.connect(config).client
        try:
            total += _report(section.name, client, find(client, owned), args.delete)
        finally:
            client.close()
    print('%d orphan%s%s' % (total, '' if total == 1 else 's',
                             ' deleted' if args.delete and total else
                             '' if not total else ' (vmdk-volume orphans --delete removes '
                                                  'them)'))
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
