"""vmdk-volume: a Cinder volume driver keeping volumes as VMDK files on VMware vCenter."""
