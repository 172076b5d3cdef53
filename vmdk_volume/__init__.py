"""vmdk-volume: a Cinder volume driver keeping volumes as VMDK files on VMware vCenter."""

DRIVER_VERSION = '1.0.0'
