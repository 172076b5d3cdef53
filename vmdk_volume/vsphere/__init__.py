"""vSphere plumbing: the only package that speaks SOAP, through oslo.vmware."""
