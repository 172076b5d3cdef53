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

"""Named locks for the critical sections other cinder-volume processes may enter too.

The core takes a ``Locks``: a callable returning a context manager per lock name. The Cinder
adapter fills it with Cinder's coordination (tooz: a file, Redis or etcd backend shared by
every process of an active-active cluster); the tool and the tests use ``LocalLocks``, which
only excludes threads of one process. Names are ASCII and file-name safe (tooz's file backend
makes one file per name), see ``name``.
"""

import hashlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

Locks = Callable[[str], AbstractContextManager]
PREFIX = 'vmdk-volume-'


def name(kind: str, *parts: str) -> str:
    """A lock name for ``kind`` (``backing``, ``folder``, ``image``) and what it guards:
    parts that are not plain ids (folder names) are hashed to stay file-name safe."""
    key = '-'.join(parts)
    if not (key.isascii() and key.replace('-', '').isalnum()):
        key = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    return '%s%s-%s' % (PREFIX, kind, key)


class LocalLocks:
    """One ``threading.Lock`` per name: mutual exclusion within this process only."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def __call__(self, lock_name: str) -> AbstractContextManager:
        with self._guard:
            return self._locks.setdefault(lock_name, threading.Lock())
