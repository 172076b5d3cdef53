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

"""Cinder's database, read through Cinder's own DB API with the configuration's
``[database] connection``: volume types, and the ids of live volumes and snapshots.

Cinder is imported here only when a function is called; Cinder's global configuration is
loaded from the same files as cinder-volume would (once per process).
"""

import functools


@functools.cache
def _context(files: tuple[str, ...]):
    from cinder import objects
    objects.register_all()
    from cinder import context
    from cinder.common import config  # noqa: F401 - registers Cinder's options
    from oslo_config import cfg
    args = [arg for path in files for arg in ('--config-file', path)]
    cfg.CONF(args, project='cinder', default_config_files=[])
    return context.get_admin_context()


def volume_types(files: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Every volume type's extra specs, by type name."""
    from cinder.db import api as db
    types = db.volume_type_get_all(_context(files))
    return {name: dict(kind.get('extra_specs') or {}) for name, kind in types.items()}


def owned_ids(files: tuple[str, ...]) -> frozenset[str]:
    """The ids of volumes and snapshots not deleted (and the name ids of migrated volumes,
    whose backings carry those)."""
    from cinder.db import api as db
    context = _context(files)
    ids = set()
    for volume in db.volume_get_all(context):
        ids.add(volume['id'])
        if volume.get('_name_id'):
            ids.add(volume['_name_id'])
    ids.update(snapshot['id'] for snapshot in db.snapshot_get_all(context))
    return frozenset(ids)


def recorded(files: tuple[str, ...], backend: str) -> list:
    """The volumes and snapshots of backend section ``backend`` (hosts '<node>@<backend>'
    with or without '#<pool>'), as ``intree.Recorded``."""
    from cinder.db import api as db

    from vmdk_volume.core.intree import Recorded
    context = _context(files)
    volumes = [v for v in db.volume_get_all(context)
               if (v['host'] or '').split('#', 1)[0].split('@', 1)[-1] == backend]
    ids = {v['id'] for v in volumes}
    return [Recorded('volume', v['id'], v['provider_location']) for v in volumes] + [
        Recorded('snapshot', s['id'], s['provider_location'])
        for s in db.snapshot_get_all(context) if s['volume_id'] in ids]
