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


"""A backend's configuration, checked and typed: what the core reads of the ``vmware_*``
options (declared for Cinder in ``vmdk_volume.driver.options``)."""

import dataclasses
import re

from vmdk_volume.vsphere.disks import AdapterType
from vmdk_volume.vsphere.session import Endpoint

ADAPTER_TYPES = tuple(a.value for a in AdapterType)
SNAPSHOT_FORMATS = ('template', 'COW')
POOL_REPORTS = ('backend', 'datastore')     # vmware_pools
MAX_NAME_LENGTH = 80       # vCenter's limit on an inventory name


@dataclasses.dataclass(frozen=True)
class ImageCacheConfig:
    """The image cache options (see images.cache)."""

    enabled: bool = True
    folder: str = 'Image cache'
    max_count: int = 20
    max_size_gb: int = 0

    @classmethod
    def from_options(cls, conf) -> 'ImageCacheConfig':
        return cls(enabled=conf.vmware_image_cache_enabled,
                   folder=folder_name(conf.vmware_image_cache_folder, 'vmware_image_cache_folder',
                               nested=False),
                   max_count=conf.vmware_image_cache_max_count,
                   max_size_gb=conf.vmware_image_cache_max_size_gb)


class ConfigError(ValueError):
    """A backend option is missing or invalid; the message names it."""


@dataclasses.dataclass(frozen=True)
class BackendConfig:
    """A backend section's options, checked and typed."""

    endpoint: Endpoint
    volume_folder: str
    clusters: tuple[str, ...]
    datastore_regex: re.Pattern | None
    default_adapter: AdapterType
    snapshot_format: str
    lazy_create: bool
    enable_volume_stats: bool
    storage_profiles: tuple[str, ...]
    tmp_dir: str
    image_transfer_timeout_s: int
    host_version: str | None
    image_cache: ImageCacheConfig = ImageCacheConfig()
    pool_per_datastore: bool = False

    @classmethod
    def from_options(cls, conf) -> 'BackendConfig':
        """Read a Cinder ``Configuration`` (or any object with the ``vmware_*`` attributes)."""
        for name in ('vmware_host_ip', 'vmware_host_username', 'vmware_host_password'):
            if not getattr(conf, name):
                raise ConfigError('%s is not set: it is required to reach vCenter' % name)
        return cls(
            endpoint=Endpoint(
                host=conf.vmware_host_ip, port=conf.vmware_host_port,
                username=conf.vmware_host_username, password=conf.vmware_host_password,
                ca_file=conf.vmware_ca_file, insecure=conf.vmware_insecure,
                wsdl_location=conf.vmware_wsdl_location,
                api_retry_count=conf.vmware_api_retry_count,
                timeout_s=conf.vmware_api_timeout_secs,
                task_poll_interval=conf.vmware_task_poll_interval,
                pool_size=conf.vmware_connection_pool_size,
                max_objects=conf.vmware_max_objects_retrieval),
            volume_folder=folder_name(conf.vmware_volume_folder, 'vmware_volume_folder'),
            clusters=tuple(conf.vmware_cluster_name or ()),
            datastore_regex=_regex(conf.vmware_datastore_regex),
            default_adapter=AdapterType(conf.vmware_adapter_type),
            snapshot_format=conf.vmware_snapshot_format,
            lazy_create=conf.vmware_lazy_create,
            enable_volume_stats=conf.vmware_enable_volume_stats,
            storage_profiles=tuple(conf.vmware_storage_profile or ()),
            tmp_dir=conf.vmware_tmp_dir,
            image_transfer_timeout_s=conf.vmware_image_transfer_timeout_secs,
            host_version=conf.vmware_host_version,
            image_cache=ImageCacheConfig.from_options(conf),
            pool_per_datastore=conf.vmware_pools == 'datastore')


def folder_name(value: str | None, option: str, nested: bool = True) -> str:
    """A folder option's value: one inventory name (or, if ``nested``, names separated by
    '/'), none blank nor longer than vCenter allows."""
    value = value or ''
    names = value.strip('/').split('/') if nested else [value]
    if any(not name.strip() or len(name) > MAX_NAME_LENGTH or '/' in name for name in names):
        raise ConfigError('%s %r is not a valid folder %s: each name must be 1 to %d '
                          'characters, not blank%s' % (
                              option, value, 'path' if nested else 'name', MAX_NAME_LENGTH,
                              ', separated by /' if nested else ', without /'))
    return value


def _regex(pattern: str | None) -> re.Pattern | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ConfigError('vmware_datastore_regex %r is not a valid regular expression: %s'
                          % (pattern, error)) from None
