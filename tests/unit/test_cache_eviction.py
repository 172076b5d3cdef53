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

"""Which templates the image cache evicts, decided without vCenter."""

import threading
import types

from vmdk_volume.core.config import ImageCacheConfig
from vmdk_volume.core.images import cache


class _Backings:
    """What eviction uses of backings: deletion, recorded."""

    def __init__(self):
        self.deleted = []

    def delete(self, ref, identity):
        self.deleted.append(ref)


def _cache(max_count: int, *entries: cache.Entry) -> tuple[cache.ImageCache, _Backings]:
    backings, locks = _Backings(), {}
    client = types.SimpleNamespace(content=types.SimpleNamespace(
        about=types.SimpleNamespace(instanceUuid='vc')))
    images = cache.ImageCache(client, backings,
                              lambda name: locks.setdefault(name, threading.Lock()),
                              lambda: ImageCacheConfig(max_count=max_count))
    images._entries = {entry.image_id: entry for entry in entries}
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
