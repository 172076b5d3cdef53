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

"""The inventory watch against update sets the simulator cannot send: versions vCenter
refuses, a collector lost with its session, truncated sets, objects leaving."""

import pytest

from tests.soap import fake
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, inventory_watch

FILTER = '<filter type="PropertyFilter">filter-1</filter>'


def _change(name: str, val: str | None) -> str:
    return '<changeSet><name>%s</name><op>%s</op>%s</changeSet>' % (
        name, 'assign' if val is not None else 'unset', val or '')


def _object(kind: str, type_name: str, ref: str, *changes: str) -> str:
    return '<objectSet><kind>%s</kind><obj type="%s">%s</obj>%s</objectSet>' % (
        kind, type_name, ref, ''.join(changes))


def _updates(version: str, *objects: str, truncated: bool = False) -> fake.Returns:
    return fake.Returns('<version>%s</version><filterSet>%s%s</filterSet>%s' % (
        version, FILTER, ''.join(objects), '<truncated>true</truncated>' if truncated else ''))


def _mount(host: str, mounted: str = 'true') -> str:
    return ('<DatastoreHostMount><key type="HostSystem">%s</key><mountInfo><path>/vmfs/ds</path>'
            '<accessMode>readWrite</accessMode><mounted>%s</mounted><accessible>%s</accessible>'
            '</mountInfo></DatastoreHostMount>' % (host, mounted, mounted))


def _mounts(*mounts: str) -> str:
    return '<val xsi:type="ArrayOfDatastoreHostMount">%s</val>' % ''.join(mounts)


DATACENTER = _object(
    'enter', 'Datacenter', 'datacenter-2',
    _change('name', '<val xsi:type="xsd:string">DC0</val>'),
    _change('vmFolder', '<val xsi:type="ManagedObjectReference" type="Folder">group-v3</val>'),
    _change('datastore', '<val xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference '
                         'type="Datastore">datastore-9</ManagedObjectReference></val>'))
CLUSTER = _object(
    'enter', 'ClusterComputeResource', 'domain-c7',
    _change('name', '<val xsi:type="xsd:string">C0</val>'),
    _change('resourcePool',
            '<val xsi:type="ManagedObjectReference" type="ResourcePool">resgroup-8</val>'),
    _change('host', '<val xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference '
                    'type="HostSystem">host-1</ManagedObjectReference></val>'))
HOST = _object(
    'enter', 'HostSystem', 'host-1',
    _change('name', '<val xsi:type="xsd:string">esx-1</val>'),
    _change('parent', '<val xsi:type="ManagedObjectReference" '
                      'type="ClusterComputeResource">domain-c7</val>'),
    _change('runtime.connectionState',
            '<val xsi:type="HostSystemConnectionState">connected</val>'),
    _change('runtime.inMaintenanceMode', '<val xsi:type="xsd:boolean">false</val>'))
DATASTORE = _object(
    'enter', 'Datastore', 'datastore-9',
    _change('name', '<val xsi:type="xsd:string">ds-9</val>'),
    _change('summary.type', '<val xsi:type="xsd:string">VMFS</val>'),
    _change('summary.capacity', '<val xsi:type="xsd:long">1000</val>'),
    _change('summary.freeSpace', '<val xsi:type="xsd:long">600</val>'),
    _change('summary.accessible', '<val xsi:type="xsd:boolean">true</val>'),
    _change('summary.maintenanceMode', '<val xsi:type="xsd:string">normal</val>'),
    _change('host', _mounts(_mount('host-1'))))
FULL = _updates('1', DATACENTER, CLUSTER, HOST, DATASTORE)


@pytest.fixture
def client(fake_vc, fake_endpoint):
    return vclient.Client.connect(fake_endpoint)


def _watch(fake_vc, client, *collectors: str):
    fake_vc.script('CreatePropertyCollector',
                   *(fake.ref('PropertyCollector', c) for c in collectors or ('collector-5',)))
    fake_vc.script('WaitForUpdatesEx', FULL)
    watch = inventory_watch.InventoryWatch(client)
    return watch, watch.refresh()


def test_the_first_refresh_reads_everything_as_typed_values_in_three_calls(fake_vc, client):
    fake_vc.calls.clear()
    _, known = _watch(fake_vc, client)

    assert fake_vc.calls == ['CreatePropertyCollector', 'CreateFilter', 'WaitForUpdatesEx']
    store = known.datastores['datastore-9']
    assert (store.name, store.capacity, store.free_space, store.uncommitted,
            store.datacenter) == ('ds-9', 1000, 600, 0, 'datacenter-2')
    assert store.usable_hosts() == {'host-1'}
    assert known.compute_resources['domain-c7'].is_cluster
    assert known.compute_resources['domain-c7'].hosts == ('host-1',)
    assert known.hosts['host-1'].usable and known.hosts['host-1'].compute_resource == 'domain-c7'
    assert known.datacenters['datacenter-2'].vm_folder == 'group-v3'


def test_changes_are_applied_to_the_objects_they_name_only(fake_vc, client):
    watch, known = _watch(fake_vc, client)
    fake_vc.script('WaitForUpdatesEx', _updates(
        '2', _object('modify', 'Datastore', 'datastore-9',
                     _change('summary.freeSpace', '<val xsi:type="xsd:long">100</val>'),
                     _change('host', _mounts(_mount('host-1', mounted='false')))),
        _object('modify', 'HostSystem', 'host-1',
                _change('runtime.inMaintenanceMode', '<val xsi:type="xsd:boolean">true</val>'))))

    now = watch.refresh(known)

    store = now.datastores['datastore-9']
    assert (store.free_space, store.capacity, store.usable_hosts()) == (100, 1000, frozenset())
    assert now.hosts['host-1'].in_maintenance and not now.hosts['host-1'].usable
    assert now.datacenters is known.datacenters      # untouched kinds: not even copied
    assert now.compute_resources is known.compute_resources


def test_objects_leaving_are_dropped_and_entering_ones_added(fake_vc, client):
    watch, known = _watch(fake_vc, client)
    fake_vc.script('WaitForUpdatesEx', _updates(
        '2', _object('leave', 'HostSystem', 'host-1'),
        _object('enter', 'Datastore', 'datastore-10',
                _change('name', '<val xsi:type="xsd:string">ds-10</val>'),
                _change('summary.capacity', '<val xsi:type="xsd:long">50</val>')),
        _object('modify', 'Datacenter', 'datacenter-2', _change(
            'datastore', '<val xsi:type="ArrayOfManagedObjectReference">'
                         '<ManagedObjectReference type="Datastore">datastore-9'
                         '</ManagedObjectReference><ManagedObjectReference type="Datastore">'
                         'datastore-10</ManagedObjectReference></val>'))))

    now = watch.refresh(known)

    assert 'host-1' not in now.hosts
    assert now.datastores['datastore-10'].capacity == 50
    assert now.datastores['datastore-10'].datacenter == 'datacenter-2'


def test_nothing_changed_is_one_call_and_the_same_inventory(fake_vc, client):
    watch, known = _watch(fake_vc, client)
    fake_vc.calls.clear()

    assert watch.refresh(known) is known
    assert fake_vc.calls == ['WaitForUpdatesEx']


def test_a_truncated_update_set_is_followed_by_the_rest(fake_vc, client):
    watch, known = _watch(fake_vc, client)
    fake_vc.script('WaitForUpdatesEx', _updates('2', _object(
        'modify', 'Datastore', 'datastore-9',
        _change('summary.freeSpace', '<val xsi:type="xsd:long">10</val>')), truncated=True),
        _updates('3', _object('modify', 'Datastore', 'datastore-9',
                              _change('summary.capacity', '<val xsi:type="xsd:long">20</val>'))))
    fake_vc.calls.clear()

    store = watch.refresh(known).datastores['datastore-9']

    assert (store.free_space, store.capacity) == (10, 20)
    assert fake_vc.calls == ['WaitForUpdatesEx', 'WaitForUpdatesEx']


def test_a_refused_version_destroys_the_collector_and_reads_everything_again(fake_vc, client):
    watch, known = _watch(fake_vc, client, 'collector-5', 'collector-6')
    fake_vc.script('WaitForUpdatesEx', fake.Fault(
        'InvalidCollectorVersion', 'The version is not valid for this collector.'), FULL)
    fake_vc.calls.clear()

    again = watch.refresh(known)

    assert again == known
    assert fake_vc.calls == ['WaitForUpdatesEx', 'DestroyPropertyCollector',
                             'CreatePropertyCollector', 'CreateFilter', 'WaitForUpdatesEx']


def test_a_collector_gone_with_a_renewed_session_is_made_again(fake_vc, client):
    watch, known = _watch(fake_vc, client, 'collector-5', 'collector-6')
    fake_vc.script('WaitForUpdatesEx', fake.NOT_AUTHENTICATED, fake.Fault(
        'ManagedObjectNotFound', 'The object has already been deleted or has not been '
        'completely created', '<obj type="PropertyCollector">collector-5</obj>'), FULL)
    fake_vc.script('SessionIsActive', fake.Returns('false'), fake.Returns('false'))
    fake_vc.calls.clear()

    assert watch.refresh(known) == known
    assert fake_vc.calls == ['WaitForUpdatesEx', 'SessionIsActive', 'SessionIsActive', 'Login',
                             'WaitForUpdatesEx', 'CreatePropertyCollector', 'CreateFilter',
                             'WaitForUpdatesEx']


def test_other_faults_are_raised(fake_vc, client):
    watch, known = _watch(fake_vc, client)
    fake_vc.script('WaitForUpdatesEx', fake.Fault('RequestCanceled', 'The task was canceled.'))

    with pytest.raises(errors.Fault, match='RequestCanceled'):
        watch.refresh(known)
