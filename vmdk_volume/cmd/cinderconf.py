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

"""Cinder's configuration as cinder-volume reads it, without importing Cinder.

Each enabled backend is a section whose options Cinder registers in a group of that name, with
the ``[backend_defaults]`` section as fallback (``cinder.volume.configuration``): an option set
in the section wins, then one set in ``[backend_defaults]``, then the default. ``load`` does the
same on a private ``ConfigOpts`` for the options our tools need.
"""

import dataclasses

from oslo_config import cfg

from vmdk_volume.driver import options

SHARED_GROUP = 'backend_defaults'
OUR_DRIVER = 'vmdk_volume.driver.VMwareVcVmdkDriver'
_BACKEND_OPTS = [
    cfg.StrOpt('volume_driver', default='cinder.volume.drivers.lvm.LVMVolumeDriver'),
    cfg.StrOpt('volume_backend_name'),
    *options.vmdk_opts,
]


class ConfFileError(ValueError):
    """The configuration file cannot be read or names no usable backend."""


class Section:
    """One backend section's options, looked up as Cinder's ``Configuration`` does."""

    def __init__(self, conf: cfg.ConfigOpts, name: str):
        self.name = name
        self._group = getattr(conf, name)
        self._shared = getattr(conf, SHARED_GROUP)

    def __getattr__(self, option: str):
        value = getattr(self._group, option)
        return getattr(self._shared, option) if value is None else value

    @property
    def uses_our_driver(self) -> bool:
        return self.volume_driver.startswith('vmdk_volume.')


@dataclasses.dataclass(frozen=True)
class CinderConf:
    """What a cinder.conf says: its backend sections, in ``enabled_backends`` order."""

    sections: tuple[Section, ...]
    database_connection: str | None
    files: tuple[str, ...]

    def ours(self, only: str | None = None) -> list[Section]:
        """The sections using our driver (just ``only`` if given: ConfFileError if it is
        not an enabled backend using our driver)."""
        found = [s for s in self.sections if s.uses_our_driver]
        if only is None:
            if not found:
                raise ConfFileError('no backend in enabled_backends of %s uses volume_driver '
                                    '= %s' % (', '.join(self.files), OUR_DRIVER))
            return found
        chosen = [s for s in found if s.name == only]
        if not chosen:
            raise ConfFileError('--backend %s: not an enabled backend using %s in %s (those '
                                'are: %s)' % (only, OUR_DRIVER, ', '.join(self.files),
                                              ', '.join(s.name for s in found) or 'none'))
        return chosen


def load(files: list[str]) -> CinderConf:
    """Read ``files`` (later ones win, as with cinder-volume's ``--config-file``)."""
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.ListOpt('enabled_backends', default=[]))
    conf.register_opt(cfg.StrOpt('connection', secret=True), group='database')
    conf.register_opts(_BACKEND_OPTS, group=SHARED_GROUP)
    try:
        conf(args=[], project='cinder', default_config_files=list(files),
             default_config_dirs=[], use_env=False)
        backends = list(conf.enabled_backends or [])
        for name in backends:
            conf.register_opts(_BACKEND_OPTS, group=name)
            for opt in _BACKEND_OPTS:
                conf.set_default(opt.dest, None, group=name)
        sections = tuple(Section(conf, name) for name in backends)
        for section in sections:
            section.volume_driver      # noqa: B018 - parse now: errors name the option
        return CinderConf(sections, conf.database.connection, tuple(files))
    except (cfg.ConfigFilesNotFoundError, cfg.ConfigFileParseError) as error:
        raise ConfFileError(str(error)) from None
    except (cfg.ConfigFileValueError, ValueError) as error:
        raise ConfFileError('%s: %s' % (', '.join(files), error)) from None
