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

"""The inventory kept current by a property collector: what it costs, what placement sees,
and a session renewed underneath it (the big sizes are the bench's: tools/bench)."""

import time

import pytest
from oslo_service import loopingcall

from tests.functional.helpers import backend_config, connect
from vmdk_volume.vsphere import inventory_watch

GiB = 1024 ** 3
FIRST_READ_CPU_S = 0.5          # generous: the bench measures 0.15 s at 32 hosts x 200 stores
REFRESH_CPU_S = 0.05


@pytest.fixture(scope='module')
def own_backend(simulator):
    """A backend of this module's: its watch starts here (the session's renewal is the last
    test's)."""
    backend = connect(backend_config(simulator))
    yield backend
    backend.close()


def test_the_first_read_is_three_calls_and_an_unchanged_refresh_one(vsphere, simulator,
                                                                    soap_calls):
    before = simulator.collectors()
    watch = inventory_watch.InventoryWatch(vsphere)
    try:
        started = time.process_time()
        known = watch.refresh()
        first_cpu = time.process_time() - started
        first_calls = soap_calls().calls
        simulator.reset_stats()
        started = time.process_time()
        again = watch.refresh(known)
        refresh_cpu = time.process_time() - started
        assert simulator.collectors() == {k: v + 1 for k, v in before.items()}
    finally:
        watch.close()
    assert first_calls == {'CreatePropertyCollector': 1, 'CreateFilter': 1,
                           'WaitForUpdatesEx': 1}
    assert soap_calls().calls == {'WaitForUpdatesEx': 1, 'DestroyPropertyCollector': 1}
    assert again is known and known.datastores and known.hosts
    assert first_cpu < FIRST_READ_CPU_S and refresh_cpu < REFRESH_CPU_S
    assert simulator.collectors() == before


def _unmounted(store, host):
    return {'unmount_from': (host,)}, {'mount_on': (host,)}


def _in_maintenance(store, host):
    return {'maintenance': True}, {'maintenance': False}


def _full(store, host):
    return {'free_space': GiB // 2}, {'free_space': store.free_space}


@pytest.mark.parametrize('change', [_unmounted, _in_maintenance, _full])
def test_a_datastore_change_is_seen_by_the_next_placement_in_one_call(own_backend, simulator,
                                                                      change):
    host = next(iter(own_backend.inventory().hosts.values()))
    request = own_backend.placement_request(GiB, host.ref)
    first = own_backend.place(request).datastore
    made, undo = change(first, host.name)
    simulator.change_datastore(first.name, **made)
    try:
        simulator.reset_stats()
        second = own_backend.place(request).datastore
        calls = simulator.stats().calls
    finally:
        simulator.change_datastore(first.name, **undo)
    assert second.ref != first.ref
    assert calls == {'WaitForUpdatesEx': 1}


def test_a_renewed_session_gets_a_new_collector_and_the_inventory_as_it_is(
        own_backend, simulator, vim_session, monkeypatch):
    # oslo.vmware's retries, the same ones, without its pauses (as in tests/soap)
    monkeypatch.setattr(loopingcall.RetryDecorator.__init__, '__defaults__', (-1, 0.2, 0.5, ()))
    before = simulator.collectors()
    store = next(iter(own_backend.inventory().datastores.values()))
    vim_session.invoke_api(vim_session.vim, 'TerminateSession',
                           vim_session.vim.service_content.sessionManager,
                           sessionId=[own_backend.client.session.key])
    simulator.change_datastore(store.name, maintenance=True)
    try:
        simulator.reset_stats()
        seen = own_backend.current_inventory().datastores[store.ref]
        calls = simulator.stats().calls
    finally:
        simulator.change_datastore(store.name, maintenance=False)
    assert seen.in_maintenance
    assert calls['Login'] == 1 and calls['CreatePropertyCollector'] == 1
    assert simulator.collectors() == before     # the old session's went with it
