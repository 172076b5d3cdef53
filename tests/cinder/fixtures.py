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

"""Fixtures the Cinder tests share with the fault suite (tests/reliability), which imports
them: Cinder's volume API served by the harness's managers, Nova's request context, and the
bytes of the attached-volume tests' disk as the kit's sparse files hold them."""

import pathlib
import subprocess

import oslo_messaging as messaging
import pytest
from cinder import context as cinder_context
from cinder import rpc
from cinder.common import constants
from cinder.objects import base as objects_base
from cinder.volume import api as volume_api
from vmdk_volume_simkit.harness.cinder import PROJECT_ID, USER_ID

from tests.cinder.helpers import RAW


@pytest.fixture(scope='module')
def api(cinder):
    """Cinder's volume API, its RPC calls served by the harness's VolumeManagers."""
    servers = []
    for volume_manager in cinder.managers.values():
        node, _ = volume_manager.host.split('@')      # addressed as cinder-volume does since 3.6
        target = messaging.Target(topic='%s.%s' % (constants.VOLUME_TOPIC, volume_manager.host),
                                  server=node, version=volume_manager.RPC_API_VERSION)
        servers.append(messaging.get_rpc_server(
            rpc.TRANSPORT, target, [volume_manager, *volume_manager.additional_endpoints],
            executor='threading',
            serializer=rpc.RequestContextSerializer(objects_base.CinderObjectSerializer())))
        servers[-1].start()
    yield volume_api.API()
    for server in servers:
        server.stop()
        server.wait()


@pytest.fixture(scope='module')
def service_context():
    """What Nova sends Cinder: the user's request with Nova's service token."""
    return cinder_context.RequestContext(USER_ID, PROJECT_ID, is_admin=True,
                                         service_roles=['service'])


@pytest.fixture(scope='module')
def before(tmp_path_factory) -> bytes:
    """``RAW`` as a sparse VMDK, the form of the kit's disk files that it exports."""
    raw = tmp_path_factory.mktemp('before') / 'before.raw'
    raw.write_bytes(RAW)
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=monolithicSparse', str(raw), str(raw) + '.vmdk'], check=True)
    return pathlib.Path(str(raw) + '.vmdk').read_bytes()
