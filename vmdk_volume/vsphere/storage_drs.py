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

"""Storage DRS: where vCenter would place a new disk in a datastore cluster (StoragePod).

``recommend`` asks StorageResourceManager.RecommendDatastores for the initial placement
(type ``create``) of a VM with one new disk of the given size, and returns the datastores of
the recommendations' placement actions, best first. The driver applies no recommendation (it
creates the backing itself), so it asks for none that needs other disks moved first
(``disallowPrerequisiteMoves``). When Storage DRS recommends nothing it says why in the result's
``drsFault`` (not as a fault of the call): ``Recommendation.refused`` carries its messages.
"""

import dataclasses

from vmdk_volume.vsphere import specs


@dataclasses.dataclass(frozen=True)
class Recommendation:
    datastores: tuple[str, ...]        # moref values, best first
    refused: str | None = None         # why Storage DRS recommended nothing


def recommend(client, pod: str, *, size_bytes: int, resource_pool: str,
              host: str | None = None) -> Recommendation:
    """Storage DRS's datastores of ``pod`` for a disk of ``size_bytes`` on ``host`` (else any
    host of ``resource_pool``'s compute resource): one RecommendDatastores."""
    pod_ref = client.ref('StoragePod', pod)
    config = client.create('VirtualMachineConfigSpec', name='placement',
                           deviceChange=specs.disk_add(client, specs.DiskSpec(size_bytes)))
    spec = client.create(
        'StoragePlacementSpec', type='create', configSpec=config,
        disallowPrerequisiteMoves=True,     # no other VM's disks moved to make room
        resourcePool=client.ref('ResourcePool', resource_pool),
        podSelectionSpec=client.create(
            'StorageDrsPodSelectionSpec', storagePod=pod_ref,
            initialVmConfig=[client.create('VmPodConfigForPlacement', storagePod=pod_ref)]))
    if host:
        spec.host = client.ref('HostSystem', host)
    result = client.call('RecommendDatastores', client.content.storageResourceManager,
                         storageSpec=spec)
    stores = tuple(action.destination.value
                   for rec in getattr(result, 'recommendations', None) or []
                   for action in getattr(rec, 'action', None) or []
                   if type(action).__name__ == 'StoragePlacementAction')
    return Recommendation(stores, None if stores else _refusal(result))


def _refusal(result) -> str:
    fault = getattr(result, 'drsFault', None)
    messages = [getattr(f, 'localizedMessage', None) or type(getattr(f, 'fault', f)).__name__
                for by_vm in getattr(fault, 'faultsByVm', None) or []
                for f in getattr(by_vm, 'fault', None) or []]
    return '; '.join(messages) or 'no recommendation'
