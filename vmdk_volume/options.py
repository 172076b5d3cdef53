"""Backend options, with the in-tree VMDK driver's names, types and defaults.

An existing ``cinder.conf`` written for ``cinder.volume.drivers.vmware.vmdk`` loads unchanged.
Cinder registers them per backend section (``configuration.append_config_values``) and in
``[backend_defaults]``; ``list_opts`` feeds oslo-config-generator (etc/cinder.conf.sample).
"""

from oslo_config import cfg

ADAPTER_TYPES = ('lsiLogic', 'busLogic', 'lsiLogicsas', 'paraVirtual', 'ide')
SNAPSHOT_FORMATS = ('template', 'COW')

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
    cfg.StrOpt('vmware_tmp_dir', default='/tmp',
               help='Directory for temporary files during image conversion, backup and '
                    'restore.'),
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
                help='If true, report capacity and free space from the datastores the '
                     'driver may use; if false, report them as unknown.'),
]


def list_opts():
    """Options for oslo-config-generator, in each backend section's group."""
    return [('backend_defaults', vmdk_opts)]
