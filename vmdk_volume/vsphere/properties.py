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

"""Property reads: one RetrievePropertiesEx per question, only the properties asked for.

``fetch`` reads named objects; ``traverse`` reads every object of some types that traversal
specs reach from a root, and ``collect`` every object below a ContainerView, both following
``ContinueRetrievePropertiesEx`` pages. Results are ``Item``s: a reference and a dict of the
properties that are set. ``wait_for`` watches one property until it meets a condition.
"""

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Item:
    """One object's reference and the requested properties it has."""

    ref: Any
    props: Mapping[str, Any]

    @property
    def value(self) -> str:
        return self.ref.value

    def get(self, path: str, default=None):
        return self.props.get(path, default)


def options(extra_config) -> dict[str, str]:
    """A VM's ``config.extraConfig`` as read, as a dict (a key set twice: the last value)."""
    return {option.key: option.value
            for option in getattr(extra_config, 'OptionValue', None) or []}


def ref_values(array) -> list[str]:
    """The moref values of an ArrayOfManagedObjectReference as read ([] if unset)."""
    return [ref.value for ref in getattr(array, 'ManagedObjectReference', None) or []]


def snapshot_trees(info) -> Iterator:
    """The snapshot tree nodes of a VM's ``snapshot`` as read, depth first."""
    stack = list(getattr(info, 'rootSnapshotList', None) or [])
    while stack:
        tree = stack.pop(0)
        yield tree
        stack[:0] = getattr(tree, 'childSnapshotList', None) or []


def fetch(client, refs: Sequence, paths: Iterable[str]) -> list[Item]:
    """Read ``paths`` of the objects ``refs`` (of one or more types) in one call."""
    if not refs:
        return []
    paths = list(paths)
    spec = filter_spec(client, [(ref, None) for ref in refs],
                       {t: paths for t in sorted({ref._type for ref in refs})})
    return _retrieve(client, spec)


def fetch_typed(client, refs: Sequence,
                paths_by_type: Mapping[str, Iterable[str]]) -> list[Item]:
    """Read the given paths, per type, of the objects ``refs`` in one call."""
    spec = client.create(
        'PropertyFilterSpec',
        objectSet=[client.create('ObjectSpec', obj=ref, skip=False) for ref in refs],
        propSet=[client.create('PropertySpec', type=t, all=False, pathSet=list(paths))
                 for t, paths in paths_by_type.items()])
    return _retrieve(client, spec)


def fetch_one(client, ref, paths: Iterable[str]) -> Mapping[str, Any]:
    """Read ``paths`` of one object; ``errors.NotFound`` if it is gone."""
    items = fetch(client, [ref], paths)
    return items[0].props if items else {}


def wait_for(client, ref, path: str, done: Callable[[Any], bool], timeout_s: float) -> Any:
    """Watch ``path`` of ``ref`` until ``done(value)`` holds; that value, or None after
    ``timeout_s``. A collector of its own, whose WaitForUpdatesEx answers as the value
    changes (the first answer: the value as it is), in rounds the call's own time limit
    allows."""
    collector = client.call('CreatePropertyCollector', client.content.propertyCollector)
    try:
        spec = filter_spec(client, [(ref, None)], {ref._type: [path]})
        client.call('CreateFilter', collector, spec=spec, partialUpdates=False)
        deadline, version = time.monotonic() + timeout_s, ''
        while (left := deadline - time.monotonic()) > 0:
            updates = client.call('WaitForUpdatesEx', collector, version=version,
                                  options=client.create('WaitOptions',
                                                        maxWaitSeconds=client.long_poll_s(left)))
            if not updates:
                continue
            version = updates.version
            for change in (c for f in updates.filterSet or [] for c in f.objectSet or []):
                for prop in getattr(change, 'changeSet', None) or []:
                    if prop.name == path and done(value := getattr(prop, 'val', None)):
                        return value
        return None
    finally:
        client.call('DestroyPropertyCollector', collector)


def container_view(client, root, types: Sequence[str]):
    """A recursive ContainerView of ``types`` below ``root`` (destroyed with the session)."""
    return client.call('CreateContainerView', client.content.viewManager, container=root,
                       type=list(types), recursive=True)


def collect_all(client, paths_by_type: Mapping[str, Iterable[str]]) -> list[Item]:
    """Read the given paths of every object of these types in the vCenter: a ContainerView
    of the root folder, one (paged) read, the view destroyed (three calls)."""
    view = container_view(client, client.content.rootFolder, list(paths_by_type))
    try:
        return collect(client, view, paths_by_type)
    finally:
        client.call('DestroyView', view)


def collect(client, view, paths_by_type: Mapping[str, Iterable[str]]) -> list[Item]:
    """Read the given paths of every object in ``view``, per type, in one (paged) call."""
    traversal = client.create('TraversalSpec', name='view', type='ContainerView',
                              path='view', skip=False)
    return traverse(client, view, [traversal], paths_by_type)


def traverse(client, root, traversals: Sequence,
             paths_by_type: Mapping[str, Iterable[str]]) -> list[Item]:
    """Read the given paths, per type, of every object ``traversals`` reach from ``root``
    (not ``root`` itself) in one (paged) call."""
    return _retrieve(client, filter_spec(client, [(root, traversals)], paths_by_type))


def filter_spec(client, objects: Sequence[tuple[Any, Sequence | None]],
                paths_by_type: Mapping[str, Iterable[str]]):
    """A PropertyFilterSpec: the given paths, per type, of each object (a reference and
    None) or of every object its traversal specs reach (a reference and those specs; the
    reference itself skipped)."""
    return client.create(
        'PropertyFilterSpec',
        objectSet=[client.create('ObjectSpec', obj=ref, skip=traversals is not None,
                                 **({'selectSet': traversals} if traversals else {}))
                   for ref, traversals in objects],
        propSet=[client.create('PropertySpec', type=t, all=False, pathSet=list(paths))
                 for t, paths in paths_by_type.items()])


def _retrieve(client, spec) -> list[Item]:
    collector = client.content.propertyCollector
    options = client.create('RetrieveOptions',
                            maxObjects=client.session.endpoint.max_objects)
    result = client.call('RetrievePropertiesEx', collector, specSet=[spec], options=options)
    items = []
    while result:
        items += [_item(content) for content in getattr(result, 'objects', None) or []]
        token = getattr(result, 'token', None)
        if not token:
            break
        result = client.call('ContinueRetrievePropertiesEx', collector, token=token)
    return items


def _item(content) -> Item:
    return Item(content.obj, {prop.name: prop.val
                              for prop in getattr(content, 'propSet', None) or []})
