"""Our vSphere exceptions: what went wrong, said so an operator can act on it.

Everything in ``vsphere/`` raises these, never oslo.vmware's or suds' exceptions, so the layers
above handle one family; the Cinder adapter maps them to ``cinder.exception``.
"""


class VSphereError(Exception):
    """Base class: a vSphere call failed."""


class ConnectionFailed(VSphereError):
    """vCenter could not be reached (after the configured retries)."""


class CertificateNotTrusted(ConnectionFailed):
    """TLS verification of the vCenter certificate failed."""


class AuthenticationFailed(VSphereError):
    """vCenter refused the configured credentials."""
