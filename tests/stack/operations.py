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

"""What an operator does against the stack: cinderclient in noauth mode, waiting for final
states, and a table of timed steps."""

import contextlib
import dataclasses
import time

from cinderclient import client as cinder_client
from cinderclient.contrib import noauth
from keystoneauth1 import session

from tests.stack.services import PROJECT_ID, ServiceError, wait_for

API_VERSION = '3.71'        # Cinder 29's newest microversion
TIMEOUT_S = 120


def client(api_url: str, project_id: str = PROJECT_ID):
    """cinderclient as ``cinder --os-auth-type noauth --os-user-id admin --os-project-id ...
    --os-endpoint API_URL`` makes it."""
    auth = noauth.CinderNoAuthPlugin('admin', project_id, endpoint=api_url)
    return cinder_client.Client(API_VERSION, session=session.Session(auth=auth))


def wait_until_serving(cinder, stack) -> None:
    """Every cinder-volume of every node up, and the scheduler reporting every pool."""
    wanted = {'%s@%s' % (node, name) for node in stack.nodes for name in stack.backends}

    def services_up():
        try:
            return wanted <= {s.host for s in cinder.services.list(binary='cinder-volume')
                              if s.state == 'up'}
        except Exception:       # the API still starting (connection refused, 503)
            return False
    wait_for('cinder-volume services %s up' % sorted(wanted), services_up, TIMEOUT_S)
    pools = set(stack.backends)
    wait_for('pools of %s' % sorted(pools), lambda: pools <= {
        pool.name.split('@', 1)[1].split('#')[0] for pool in cinder.pools.list()}, TIMEOUT_S)


def wait_status(manager, resource_id: str, status: str, field: str = 'status',
                timeout: float = TIMEOUT_S):
    """The resource once its ``field`` is ``status``; ServiceError at ``error*`` or timeout."""
    seen = []

    def reached():
        resource = manager.get(resource_id)
        value = getattr(resource, field)
        if not seen or seen[-1] != value:
            seen.append(value)
        if value.startswith('error') and not status.startswith('error'):
            raise ServiceError('%s %s went %s (states: %s)'
                               % (manager.resource_class.__name__, resource_id, value, seen))
        return resource if value == status else None
    return wait_for(lambda: '%s %s %s (so far: %s)' % (resource_id, field, status, seen),
                    reached, timeout)


def wait_gone(manager, resource_id: str, timeout: float = TIMEOUT_S) -> None:
    ids = lambda: {r.id for r in manager.list()}    # noqa: E731
    wait_for('%s deleted' % resource_id, lambda: resource_id not in ids(), timeout)


@dataclasses.dataclass
class Steps:
    """Named steps and their wall times, in order."""

    times: list[tuple[str, float]] = dataclasses.field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str):
        started = time.monotonic()
        yield
        self.record(name, time.monotonic() - started)

    def record(self, name: str, seconds: float) -> None:
        self.times.append((name, seconds))

    def table(self) -> str:
        width = max(len(name) for name, _ in self.times)
        lines = ['%-*s  %7.1f s' % (width, name, seconds) for name, seconds in self.times]
        total = sum(seconds for _, seconds in self.times)
        return '\n'.join(lines + ['%-*s  %7.1f s' % (width, 'total', total)])


STEPS = Steps()     # the scenario's, printed at the end of the session
