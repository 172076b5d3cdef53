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

"""Backend options, with the in-tree VMDK driver's names, types and defaults.

An existing ``cinder.conf`` written for ``cinder.volume.drivers.vmware.vmdk`` loads unchanged.
Cinder registers them per backend section (``configuration.append_config_values``) and in
``[backend_defaults]``; ``list_opts`` feeds oslo-config-generator (etc/cinder.conf.sample).
"""

from oslo_config import cfg

from vmdk_volume.core.config import ADAPTER_TYPES, POOL_REPORTS, SNAPSHOT_FORMATS

vmdk_opts = [
    cfg.StrOpt('vmware_host_ip',
               help='IP address or host name of the vCenter server.'),
    cfg.PortOpt('vmware_host_port', default=443,
                help='Port of the vCenter server.'),
    cfg.StrOpt('vmware_host_username',
               help='Username for authenticating with the vCenter server.'),
    cfg.StrOpt('vmware_host_password', secret=True,
               help='Password for authenticating with the vCenter server.'),
    cfg.StrOpt('vmware_wsdl_location',
               help='Optional location of the vim25 WSDL (e.g. file:///etc/vmware/'
                    'vimService.wsdl). By default it is fetched from the vCenter server.'),
    cfg.IntOpt('vmware_api_retry_count', default=10, min=0,
               help='Number of times a vCenter API call is retried on connection or '
                    'session problems.'),
    cfg.FloatOpt('vmware_api_timeout_secs', min=1,
                 help='Time limit, in seconds, for one vCenter API call to answer; a call '
                      'that takes longer is retried like a dropped connection (one that '
                      'makes a VM or snapshot is first reconciled with what vCenter did). '
                      'Task waits poll vCenter in rounds of half this limit. Unset: no '
                      'limit, but logins wait at most 10 s for each answer.'),
    cfg.FloatOpt('vmware_task_poll_interval', default=2.0, min=0,
                 help='Kept for compatibility with the in-tree driver: tasks are awaited '
                      'through property-collector updates, not by polling.'),
    cfg.StrOpt('vmware_volume_folder', default='Volumes',
               help='Name of the vCenter inventory folder holding volumes. It is created '
                    'under "OpenStack/Project (<project_id>)" in the datacenter.'),
    cfg.IntOpt('vmware_image_transfer_timeout_secs', default=7200, min=1,
               help='Time limit, in seconds, for one image transfer between Glance '
                    'and vCenter.'),
    cfg.IntOpt('vmware_max_objects_retrieval', default=100, min=1,
               help='Number of objects fetched per property-collector page.'),
    cfg.StrOpt('vmware_host_version',
               help='Overrides the vCenter version read from the server. Set it only '
                    'to work around a version the driver mis-detects.'),
    # The in-tree default; files in it are made with tempfile.mkstemp (unique, mode 0600).
    cfg.StrOpt('vmware_tmp_dir', default='/tmp',  # nosec B108
               help='Directory for temporary files during image conversion, backup and '
                    'restore. The driver names its own vmdk-volume-spool-<pid>-*; at '
                    'start-up it removes those of processes that are gone and nothing '
                    'else.'),
    cfg.StrOpt('vmware_ca_file',
               help='CA bundle used to verify the vCenter server certificate.'),
    cfg.BoolOpt('vmware_insecure', default=False,
                help='If true, the vCenter server certificate is not verified. Ignored '
                     'when vmware_ca_file is set. Use only for testing.'),
    cfg.MultiStrOpt('vmware_cluster_name',
                    help='Name of a vCenter compute cluster where volumes may be placed. '
                         'Repeat for several clusters; unset means every host.'),
    cfg.MultiStrOpt('vmware_storage_profile',
                    help='Names of storage policies whose datastores are reported in the '
                         'volume stats (with vmware_enable_volume_stats).'),
    cfg.IntOpt('vmware_connection_pool_size', default=10, min=1,
               help='Maximum number of connections in the HTTP connection pool.'),
    cfg.StrOpt('vmware_adapter_type', default='lsiLogic', choices=ADAPTER_TYPES,
               help='Default adapter type of volume disks, when the volume type '
                    'does not set vmware:adapter_type.'),
    cfg.StrOpt('vmware_snapshot_format', default='template', choices=SNAPSHOT_FORMATS,
               help='Snapshot format: "template" (a full clone kept as a template) or '
                    '"COW" (a VM snapshot of the backing).'),
    cfg.BoolOpt('vmware_lazy_create', default=True,
                help='If true, a volume created without a source gets its backing on '
                     'vCenter only when first attached, uploaded or backed up.'),
    cfg.StrOpt('vmware_datastore_regex',
               help='Regular expression that datastore names must match to hold volumes.'),
    cfg.BoolOpt('vmware_enable_volume_stats', default=False,
                help='Accepted for compatibility with the in-tree driver. Capacity and '
                     'free space of the datastores the driver may use are always '
                     'reported: they cost one cached property-collector call.'),
    cfg.StrOpt('vmware_pools', default='backend', choices=POOL_REPORTS,
               help='How capacity is reported to the scheduler: "backend" reports one '
                    'pool named after the backend whose free space is the sum of the usable '
                    'datastores\' (as the in-tree driver does; volumes keep their '
                    'host@backend#backend); "datastore" reports each datastore the backend '
                    'may use as a pool named after it, and each datastore cluster '
                    '(StoragePod) as one pool named after it in place of its members (a pool '
                    'that cannot take a volume is reported down), and a volume\'s backing '
                    'is made in the pool the scheduler chose when that fits (in a datastore '
                    'cluster, on the member Storage DRS recommends). The default stays '
                    '"backend" so that an upgrade from the in-tree driver changes nothing '
                    'the database holds: every existing volume\'s host names that pool. '
                    'Choose "datastore" for the scheduler to see each datastore\'s space.'),
    cfg.BoolOpt('vmware_connector_credentials', default=False,
                help='If true, connection info for os-brick\'s VMDK connector carries the '
                     'vCenter username and password, which that connector needs for '
                     'backup, restore and host-assisted migration. Off by default: '
                     'connection info is stored in Cinder\'s database and sent to hosts.'),
    cfg.BoolOpt('vmware_image_cache_enabled', default=True,
                help='If true, the first volume made from a Glance image keeps a template of '
                     'it on the datastore, and later volumes from the same image are '
                     'server-side clones of it (no transfer).'),
    cfg.StrOpt('vmware_image_cache_folder', default='Image cache',
               help='Name of the inventory folder, below "OpenStack" in each datacenter, '
                    'holding the image cache templates.'),
    cfg.IntOpt('vmware_image_cache_max_count', default=20, min=1,
               help='Largest number of cached image templates; the least recently used '
                    'are removed beyond it.'),
    cfg.IntOpt('vmware_image_cache_max_size_gb', default=0, min=0,
               help='Largest total virtual size, in GiB, of the cached image templates '
                    '(0: no limit); the least recently used are removed beyond it.'),
]


def list_opts():
    """Options for oslo-config-generator, in each backend section's group."""
    return [('backend_defaults', vmdk_opts)]


def connector_config(conf) -> dict:
    """The ``config`` os-brick's VMDK connector reads from connection info."""
    names = ('vmware_host_ip', 'vmware_host_port', 'vmware_api_retry_count',
             'vmware_task_poll_interval', 'vmware_ca_file', 'vmware_insecure',
             'vmware_tmp_dir', 'vmware_image_transfer_timeout_secs')
    if conf.vmware_connector_credentials:
        names += ('vmware_host_username', 'vmware_host_password')
    return {name: getattr(conf, name) for name in names}
