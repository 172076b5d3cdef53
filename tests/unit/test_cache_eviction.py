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

"""Which templates the image cache evicts, decided without vCenter: the cache reads its
index from a client that answers as vCenter would."""

import contextlib
import datetime
import threading
import types

from vmdk_volume.core.config import ImageCacheConfig
from vmdk_volume.core.images import cache
from vmdk_volume.vsphere.client import Client


class _Backings:
    """What the cache uses of backings: deletion, recorded; a description, the ref."""

    def __init__(self):
        self.deleted = []

    def delete(self, ref, identity):
        self.deleted.append(ref)

    def describe(self, ref, identity):
        return ref


class VirtualDisk(types.SimpleNamespace):
    """A disk as suds reads it (the driver tells devices apart by their type's name)."""


def _template(entry: cache.Entry) -> types.SimpleNamespace:
    """The VM of a cached template as RetrievePropertiesEx returns it."""
    ns = types.SimpleNamespace
    props = {'config.extraConfig': ns(OptionValue=[
                 ns(key=cache.IMAGE_ID_KEY, value=entry.image_id),
                 ns(key=cache.CHECKSUM_KEY, value=entry.checksum)]),
             'config.template': True,
             'config.hardware.device': ns(VirtualDevice=[
                 VirtualDisk(capacityInKB=entry.size_bytes // 1024)]),
             'config.createDate': datetime.datetime.fromtimestamp(entry.used, datetime.UTC)}
    return ns(obj=Client.ref('VirtualMachine', entry.ref),
              propSet=[ns(name=name, val=val) for name, val in props.items()])


class _VCenter:
    """A client to a vCenter holding the templates of ``entries`` (created at their use
    time): the one read of the cache's index answered, no other call."""

    def __init__(self, entries):
        ns = types.SimpleNamespace
        self.content = ns(about=ns(instanceUuid='vc'), propertyCollector='collector',
                          rootFolder=Client.ref('Folder', 'group-d1'))
        self.session = ns(endpoint=ns(max_objects=100))
        self._templates = [_template(entry) for entry in entries]

    @staticmethod
    def create(type_name, **fields):
        return types.SimpleNamespace(**fields)

    def call(self, method, this, **kwargs):
        assert method == 'RetrievePropertiesEx', method
        return types.SimpleNamespace(objects=self._templates)


def _cache(max_count: int, *entries: cache.Entry, locks: dict | None = None
           ) -> tuple[cache.ImageCache, _Backings]:
    """A cache on a vCenter holding ``entries``; ``locks`` shared with another cache make
    the two processes of one backend (Cinder's coordination)."""
    backings, locks = _Backings(), {} if locks is None else locks
    images = cache.ImageCache(_VCenter(entries), backings,
                              lambda name: locks.setdefault(name, threading.Lock()),
                              lambda: ImageCacheConfig(max_count=max_count))
    return images, backings


def test_the_kept_image_counts_first_even_if_another_was_used_later():
    """A fill of an older image evicting down to one template keeps its own, not the most
    recently used one beside it (which would leave two)."""
    images, backings = _cache(1, cache.Entry('old', 'c', 'vm-1', 1, used=1.0),
                             cache.Entry('recent', 'c', 'vm-2', 1, used=2.0))
    images.evict(keep='old')
    assert backings.deleted == ['vm-2']


def test_the_least_recently_used_go_first():
    images, backings = _cache(2, *(cache.Entry('i%d' % n, 'c', 'vm-%d' % n, 1, used=n)
                                  for n in range(4)))
    images.evict(keep='i3')
    assert sorted(backings.deleted) == ['vm-0', 'vm-1']


def test_a_template_being_cloned_is_kept_over_the_limit():
    images, backings = _cache(1, cache.Entry('a', 'c', 'vm-1', 1, used=1.0),
                             cache.Entry('b', 'c', 'vm-2', 1, used=2.0))
    with images.reading('a'):
        images.evict(keep='b')
    assert backings.deleted == []


def _two_entries() -> tuple[cache.Entry, cache.Entry]:
    return cache.Entry('a', 'c', 'vm-1', 1, used=1.0), cache.Entry('b', 'c', 'vm-2', 1, used=2.0)


def test_a_template_another_process_clones_is_kept_over_the_limit():
    """Each process has its own index; the clone's reader slot is a lock both see."""
    locks = {}
    evicting, backings = _cache(1, *_two_entries(), locks=locks)
    cloning, _ = _cache(1, *_two_entries(), locks=locks)
    with cloning.reading('a'):
        evicting.evict(keep='b')
    assert backings.deleted == []
    evicting.evict(keep='b')
    assert backings.deleted == ['vm-1']


def test_clones_beyond_the_reader_slots_wait_for_one():
    images, _ = _cache(1, *_two_entries())
    with contextlib.ExitStack() as clones:
        for _ in range(cache.READER_SLOTS):
            clones.enter_context(images.reading('a'))
        waiting = threading.Thread(target=lambda: images.reading('a').__enter__())
        waiting.start()
        waiting.join(0.2)
        assert waiting.is_alive()
    waiting.join(5)
    assert not waiting.is_alive()


def test_a_vanished_template_is_forgotten_but_not_the_one_made_since():
    images, _ = _cache(1, cache.Entry('a', 'c', 'vm-new', 1, used=1.0))
    assert images.lookup('a', 'c') == 'vm-new'
    images.forget('a', 'vm-old')
    assert images.lookup('a', 'c') == 'vm-new'
    images.forget('a', 'vm-new')
    assert images.lookup('a', 'c') is None
