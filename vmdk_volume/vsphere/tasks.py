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

"""Task waits through the property collector: event-driven, never polled.

A private PropertyCollector per session holds one filter on the ``info.state``,
``info.result`` and ``info.error`` of the TaskManager's ``recentTask``: every task this
session starts enters it by itself, so waiting costs no call to register the task, only
WaitForUpdatesEx, which returns as soon as vCenter reports a change. A collector serves one
wait at a time, so one thread at a time calls it and publishes what it learns (about every
task it sees, since a task may be reported before its waiter asks); the others sleep on a
condition. A steady-state wait costs one or two WaitForUpdatesEx calls.

What is learnt about a task nobody here waits for (it ended before its waiter asked, or it is
another client's) is kept ``UNCLAIMED_S`` at most, and a change reported after a task's wait
ended is not kept: vCenter lists tasks in ``recentTask`` long after they end, and the
waiter's memory must not grow with them. A round that brings no news after a whole long
poll reads the awaited task's info directly, so a task whose end was forgotten is still seen.

The collector is made at set-up (``watch``), so a driver's first task wait costs no call for
it. A collector belongs to its session: once the session is renewed (vCenter restarted, or the
session expired), the next wait builds a new one and forgets what the old one reported, as
a restarted vCenter may give a new task the moref of one already seen.
"""

import threading
import time

from vmdk_volume.vsphere import errors, properties

MAX_WAIT_S = 60
UNCLAIMED_S = 10    # how long a task reported with no waiter here is remembered
_TERMINAL = ('success', 'error')
_INFO_PATHS = ('info.state', 'info.result', 'info.error')


class TaskWaiter:
    """Waits for tasks of one session (see the module docstring)."""

    def __init__(self, client):
        self._client = client
        self._cond = threading.Condition()
        self._setup_lock = threading.Lock()
        self._collector = None
        self._session_key = None                # the session the collector belongs to
        self._version = ''
        self._waiting: dict[str, object] = {}   # task value -> moref, for rebuilding
        self._infos: dict[str, dict] = {}       # task value -> the info paths seen so far
        self._unclaimed: dict[str, float] = {}  # task value -> when it entered, unawaited
        self._leader = False

    def wait(self, task):
        """Block until ``task`` finishes; return its result or raise its fault."""
        with self._cond:
            self._waiting[task.value] = task
            self._unclaimed.pop(task.value, None)
        try:
            self.watch()
            while (info := self._await_change(task)) is None:
                pass
        finally:
            with self._cond:
                del self._waiting[task.value]
                self._infos.pop(task.value, None)
        if info['info.state'] == 'error':
            raise errors.from_task_error(info['info.error'])
        return info.get('info.result')

    def watch(self) -> None:
        """Make this session's collector unless it has one: called at set-up, so that the
        first wait costs no call for it."""
        with self._setup_lock:
            if self._collector is None or self._session_key != self._client.session.key:
                self._create_filter()

    def _create_filter(self) -> None:
        """A collector and its filter: the recent tasks, and the tasks being waited for
        (after a session renewal, those may not be the new session's recent tasks)."""
        client = self._client
        with self._cond:
            waiting = list(self._waiting.values())
        session_key = client.session.key
        collector = client.call('CreatePropertyCollector', client.content.propertyCollector)
        recent = client.create('TraversalSpec', name='recent', type='TaskManager',
                               path='recentTask', skip=False)
        spec = properties.filter_spec(
            client, [(client.content.taskManager, [recent])] + [(task, None) for task in waiting],
            {'Task': _INFO_PATHS})
        client.call('CreateFilter', collector, spec=spec, partialUpdates=False)
        with self._cond:    # published only once complete: a half-made watch is never used
            self._collector, self._version = collector, ''
            self._session_key = session_key
            self._infos = {}    # the new filter reports every waited task's state afresh
            self._unclaimed = {}

    def _await_change(self, task) -> dict | None:
        """Return the task's info once terminal, else wait for (or lead) one update round."""
        with self._cond:
            while self._leader and not self._is_terminal(task):
                self._cond.wait()
            if self._is_terminal(task):
                return self._infos[task.value]
            self._leader = True
            collector, version = self._collector, self._version
        updates = silent = None
        try:
            updates = self._client.call(
                'WaitForUpdatesEx', collector, version=version,
                options=self._client.create(
                    'WaitOptions', maxWaitSeconds=self._client.long_poll_s(MAX_WAIT_S)))
            silent = not updates
        except errors.NotFound:         # the session was renewed: rebuild and retry
            with self._setup_lock:
                self._create_filter()
        finally:
            with self._cond:
                self._leader = False
                if updates and self._collector is collector:   # not rebuilt meanwhile
                    self._apply(updates)
                self._cond.notify_all()
        if silent:
            self._read(task)
        return None

    def _read(self, task) -> None:
        """Record the task's info as vCenter holds it, if it ended."""
        info = properties.fetch_one(self._client, task, _INFO_PATHS)
        if info.get('info.state') in _TERMINAL:
            with self._cond:
                self._infos[task.value] = dict(info)
                self._cond.notify_all()

    def _is_terminal(self, task) -> bool:
        return self._infos.get(task.value, {}).get('info.state') in _TERMINAL

    def _apply(self, updates) -> None:
        """Record what changed about tasks awaited or entering (see the module docstring);
        forget tasks that left the recent list or went unclaimed too long."""
        self._version, now = updates.version, time.monotonic()
        for filter_update in getattr(updates, 'filterSet', None) or []:
            for change in filter_update.objectSet or []:
                value = change.obj.value
                if change.kind == 'leave':
                    if value not in self._waiting:
                        self._forget(value)
                    continue
                if value not in self._waiting:
                    if change.kind == 'enter':
                        self._unclaimed.setdefault(value, now)
                    elif value not in self._infos:
                        continue
                info = self._infos.setdefault(value, {})
                for prop in getattr(change, 'changeSet', None) or []:
                    info[prop.name] = getattr(prop, 'val', None)
        for value in [v for v, since in self._unclaimed.items() if now - since > UNCLAIMED_S]:
            self._forget(value)

    def _forget(self, value: str) -> None:
        self._infos.pop(value, None)
        self._unclaimed.pop(value, None)
