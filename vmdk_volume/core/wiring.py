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

"""The wiring of one backend: each collaborator made once and given what it uses.

``wire`` makes them over a connected ``Backend`` (the inventory and placement): ``Backings``
gets the client and the inventory's datacenter of a datastore, ``Provisioner`` the placement,
backings, folders, policies and locks, ``retype.Mover`` and ``manage.Manager`` the backings
and the provisioner, the image service the backings, the placement, the provisioner and the
backend's options as they are now. The driver holds the ``Services`` its set-up wired.
"""

import dataclasses

from vmdk_volume.core import folders, intree, manage, provisioning, retype
from vmdk_volume.core import locks as vlocks
from vmdk_volume.core.backend import Backend
from vmdk_volume.core.backings import Backings
from vmdk_volume.core.images import formats
from vmdk_volume.core.images.service import Images
from vmdk_volume.vsphere.policies import Policies


@dataclasses.dataclass(frozen=True)
class Services:
    """What one backend's operations use, wired by ``wire``."""

    backend: Backend                        # inventory, placement, pools, profile checks
    backings: Backings                      # lookups and changes of existing backings
    provisioner: provisioning.Provisioner   # backings made, copied, grown, moved, filed
    policies: Policies
    mover: retype.Mover
    manager: manage.Manager
    images: Images
    intree: intree.InTree                   # the in-tree driver's objects


def wire(backend: Backend, locks: vlocks.Locks | None = None,
         rules: formats.ImageRules = formats.CINDER_DEFAULTS) -> Services:
    """The collaborators of ``backend``; ``locks`` exclude other processes (Cinder's
    coordination in the driver; this process only if not given), ``rules`` are what
    Cinder's image options allow."""
    locks = locks or vlocks.LocalLocks()
    client, config, policies = backend.client, backend.config, backend.policies
    backings = Backings(client, backend.datacenter_of)
    provisioner = provisioning.Provisioner(backend, backings, folders.Folders(client, locks),
                                           policies, locks, config.volume_folder)
    return Services(
        backend=backend, backings=backings, provisioner=provisioner, policies=policies,
        mover=retype.Mover(client, backings, policies, backend, provisioner,
                           config.volume_folder),
        manager=manage.Manager(client, backings, provisioner),
        images=Images(client, backings, backend, provisioner, locks, lambda: backend.config,
                      rules),
        intree=intree.InTree(client))
