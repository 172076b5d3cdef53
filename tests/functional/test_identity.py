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

"""A stored moref is checked against the identity it was recorded for: a simulator restarted
behind a stable address (a vCenter restored from a backup) gives the morefs of lost backings
and cached image templates to new VMs, and the checks refuse to act on those."""

import uuid

import pytest
from vmdk_volume_simkit import ModelSize
from vmdk_volume_simkit.faults import Fault, FaultKind, FaultProxy

from tests.functional.helpers import backend_config, connect
from vmdk_volume.core import volume_type
from vmdk_volume.core.backings import BackingRequest, volume_identity
from vmdk_volume.vsphere import errors, inventory

GiB = 1024 ** 3
PROJECT = 'p-identity'
ATTEMPTS = 8    # new backings made at most to meet the old morefs again


def request_for(volume_id=None) -> BackingRequest:
    volume_id = volume_id or str(uuid.uuid4())
    return BackingRequest(volume_id=volume_id, name='volume-%s' % volume_id, size_bytes=GiB,
                          profile=volume_type.parse({}))


def _cached(image_ops, backend, image_id: str) -> str:
    """A template in the image cache for ``image_id`` (checksum 'c-<image id>')."""
    request = image_ops.cache.template_request(image_id, 'c-' + image_id, request_for())
    ref = backend.create_backing(request, PROJECT)
    image_ops.cache.add(image_id, 'c-' + image_id, ref, GiB)
    return ref


def _vms(backend) -> dict[str, tuple]:
    """moref value -> (name, disk sizes in KiB) of every VM."""
    return {item.value: (item.get('name'), tuple(
        int(d.capacityInKB) for d in item.get('config.hardware.device').VirtualDevice
        if type(d).__name__ == 'VirtualDisk'))
        for item in inventory.virtual_machines(backend.client, ['name',
                                                                'config.hardware.device'])}


@pytest.fixture(scope='module')
def restored(tmp_path_factory):
    """A backend that saw the restart: an old backing and two cached templates were lost,
    and new backings took their morefs."""
    with FaultProxy(tmp_path_factory.mktemp('identity'),
                    ModelSize(hosts=1, datastores=1, vms=1)) as proxy:
        backend = connect(backend_config(proxy))
        try:
            image_ops = backend.images()
            old = request_for()
            lost = {'volume': backend.create_backing(old, PROJECT),
                    'fresh': _cached(image_ops, backend, 'i-fresh'),
                    'stale': _cached(image_ops, backend, 'i-stale')}
            proxy.arm(Fault('WaitForUpdatesEx', FaultKind.RESTART))
            backend.inventory(refresh=True)
            assert proxy.fired
            made = []
            while not set(lost.values()) <= set(made) and len(made) < ATTEMPTS:
                made.append(backend.create_backing(request_for(), PROJECT))
            yield backend, image_ops, old, lost
        finally:
            backend.close()


def test_new_backings_took_the_lost_morefs(restored):
    backend, _, _, lost = restored
    assert set(lost.values()) <= set(_vms(backend))


def test_a_vm_not_carrying_the_identity_is_not_described(restored):
    backend, _, old, lost = restored
    with pytest.raises(errors.NotFound, match='%s .*not the one meant.*%s' % (
            lost['volume'], old.volume_id)):
        backend.describe(lost['volume'], volume_identity(old.volume_id))
    with pytest.raises(errors.NotFound):
        backend.backings.verify(lost['volume'], volume_identity(old.volume_id))


def test_a_vm_not_carrying_the_identity_is_not_destroyed(restored):
    backend, _, old, lost = restored
    before = _vms(backend)
    assert not backend.backings.delete(lost['volume'], volume_identity(old.volume_id))
    assert _vms(backend) == before


def test_a_vm_not_carrying_the_identity_is_not_grown_online(restored):
    backend, _, old, lost = restored
    instance = next(ref for ref, (name, _) in _vms(backend).items()
                    if not name.startswith(('volume-', 'image-')))
    before = _vms(backend)
    with pytest.raises(errors.NotFound, match='not the one meant'):
        backend.backings.extend_attached(lost['volume'], instance, 3 * GiB,
                                         volume_identity(old.volume_id))
    assert _vms(backend) == before


def test_cached_template_whose_moref_went_to_another_vm_is_forgotten(restored):
    backend, image_ops, _, lost = restored
    before = _vms(backend)
    assert image_ops.cache.lookup('i-fresh', 'c-i-fresh') is None
    assert image_ops.cache.lookup('i-stale', 'another checksum') is None   # drops it
    assert _vms(backend) == before
    assert {lost['fresh'], lost['stale']} <= set(before)
