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

"""Active-active: two VolumeManagers of one Cinder cluster (one per node, each with its own
driver, sessions and caches) racing on one vCenter, with Cinder's coordination on tooz's
file backend and on a real Redis server: one backing per volume, one folder per path, one
import per image."""

import itertools
import os
import shutil
import socket
import subprocess
import uuid

import pytest
from oslo_config import cfg

from tests import vcenter
from tests.cinder import racing
from tests.cinder.helpers import NOVA_CONNECTOR, read_backing, vm_to_attach

BACKEND = 'vc1'
CLUSTER = 'cluster'
MiB = 1024 ** 2


@pytest.fixture(scope='module')
def nodes(cinder):
    """Two clustered managers serving vc1's section, as on two cinder-volume nodes."""
    return cinder.clustered(BACKEND, ('node-a', 'node-b'), CLUSTER)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture(scope='module')
def redis_url(tmp_path_factory):
    """A Redis server on a free loopback port, for this module."""
    pytest.importorskip('redis', reason='the redis package (test-requirements.txt)')
    if shutil.which('redis-server') is None:
        pytest.skip('redis-server is not installed (tools/install-system-deps)')
    port = _free_port()
    server = subprocess.Popen(
        ['redis-server', '--bind', '127.0.0.1', '--port', str(port), '--save', '',
         '--appendonly', 'no', '--dir', str(tmp_path_factory.mktemp('redis'))],
        stdout=subprocess.PIPE, text=True)
    for line in server.stdout:       # its log: ready once it says so
        if 'Ready to accept connections' in line:
            break
    else:
        pytest.fail('redis-server exited: %s' % server.wait())
    yield 'redis://127.0.0.1:%d' % port
    server.terminate()
    server.wait()


@pytest.fixture(params=['file', 'redis'])
def coordination(request, cinder):
    """Cinder's coordinator on the backend under test (the harness starts it on file)."""
    from cinder import coordination as cinder_coordination
    if request.param == 'file':
        yield cfg.CONF.coordination.backend_url
        return
    url = request.getfixturevalue('redis_url')
    cinder_coordination.COORDINATOR.stop()
    cfg.CONF.set_override('backend_url', url, group='coordination')
    cinder_coordination.COORDINATOR.start()
    try:
        yield url
    finally:
        cinder_coordination.COORDINATOR.stop()
        cfg.CONF.clear_override('backend_url', group='coordination')
        cinder_coordination.COORDINATOR.start()


@pytest.fixture
def cluster(cinder, nodes, coordination, vcenters):
    """The two managers, a connector, and the checks every race ends with."""
    client = vcenter.of(nodes[0].driver).client
    before = racing.orphans_now(client, cinder.context)
    instance, _ = vm_to_attach(nodes[0].driver)
    vcenters[BACKEND].reset_stats()
    yield nodes, dict(NOVA_CONNECTOR, instance=instance)
    assert racing.duplicate_backings(client) == {}
    assert racing.orphans_now(client, cinder.context) - before == set()


def _volume(cinder, **fields):
    return cinder.create_volume(BACKEND, cluster_name='%s@%s#%s' % (CLUSTER, BACKEND,
                                                                     BACKEND), **fields)


def _delete(cinder, manager, volumes):
    assert racing.race(lambda v: manager.delete_volume(cinder.context, v), volumes,
                       4).failures == []


def test_one_volume_attached_from_both_nodes_at_once(cinder, cluster, vcenters):
    nodes, connector = cluster
    volume = _volume(cinder)
    vcenters[BACKEND].reset_stats()

    run = racing.race(lambda manager: manager.initialize_connection(
        cinder.context, volume, connector), nodes * 4, 8)
    print(run.figures('one volume, 8 first attaches from 2 nodes'))

    assert run.failures == []
    assert len({info['data']['volume'] for info in run.results}) == 1
    assert vcenters[BACKEND].stats().calls['CreateVM_Task'] == 1
    _delete(cinder, nodes[0], [volume])


def test_a_new_project_folder_is_made_once_by_both_nodes(cinder, cluster, vcenters):
    nodes, connector = cluster
    project = uuid.uuid4().hex
    volumes = [_volume(cinder, project_id=project) for _ in range(8)]
    vcenters[BACKEND].reset_stats()

    run = racing.race(lambda pair: pair[0].initialize_connection(
        cinder.context, pair[1], connector), list(zip(itertools.cycle(nodes), volumes)), 8)

    assert run.failures == []
    calls = vcenters[BACKEND].stats().calls
    # 'Project (<id>)' and 'Volumes' below the existing 'OpenStack', in one datacenter: every
    # backing in the one folder both nodes made, each level created by each node at most
    # once (a node creates a level below one it just made without looking first: vCenter's
    # DuplicateName tells it the other node made it meanwhile)
    parents = {read_backing(nodes[0].driver, volume.id)['parent'].value for volume in volumes}
    datacenters = {vcenter.of(nodes[0].driver).describe(info['data']['volume']).datacenter
                   for info in run.results}
    assert len(parents) == len(datacenters) == 1
    assert 2 <= calls['CreateFolder'] <= 2 * len(nodes), calls
    _delete(cinder, nodes[1], volumes)


def test_one_image_is_imported_once_by_both_nodes(cinder, cluster, vcenters, tmp_path):
    """Both nodes' drivers import the same new image at once, each with its own image cache
    index. Called below Cinder's create flow: its image code relies on eventlet and does
    not run on native threads (a cinder-volume process has one node's driver anyway)."""
    nodes, _ = cluster
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(os.urandom(MiB))
    image_id = cinder.images.add(raw, 'raw')
    volumes = [_volume(cinder) for _ in range(4)]
    vcenters[BACKEND].reset_stats()

    run = racing.race(lambda pair: pair[0].driver.copy_image_to_volume(
        cinder.context, pair[1], cinder.images, image_id),
        list(zip(itertools.cycle(nodes), volumes)), 4)
    print(run.figures('4 volumes from one new image on 2 nodes'))

    calls = vcenters[BACKEND].stats().calls
    assert run.failures == []
    view = vcenter.of(nodes[0].driver)
    assert len({view.find(volume.id) for volume in volumes} - {None}) == 4
    assert calls['ImportVApp'] == 1
    assert calls['CloneVM_Task'] == 4
    _delete(cinder, nodes[0], volumes)


def test_a_retype_scheduled_to_the_other_node_is_done_in_place(cinder, nodes):
    """The scheduler names one node of the cluster (and the cluster); the node that took the
    request off the cluster's queue retypes in place instead of refusing it as another
    backend's (found by the service stack: ``retype --migration-policy never`` failed)."""
    volume = _volume(cinder)
    thick = cinder.volume_type('aa-retype-thick', {'vmware:vmdk_type': 'thick'})
    volume.status, volume.previous_status = 'retyping', volume.status
    volume.save()
    other = {'host': '%s#%s' % (nodes[1].host, BACKEND),
             'cluster_name': '%s@%s#%s' % (CLUSTER, BACKEND, BACKEND),
             'capabilities': nodes[1].driver.get_volume_stats()}
    nodes[0].retype(cinder.context, volume, thick['id'], other, migration_policy='never')
    volume.refresh()
    assert volume.volume_type_id == thick['id'] and volume.status == 'available'
