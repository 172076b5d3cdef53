"""Keep vCenter passwords out of log records.

suds logs what it marshals and sends at DEBUG, the ``Login`` call's password included
(``suds.client``, ``suds.mx.*``, ``suds.transport.*``). Cinder's default log levels silence
suds below INFO, but an operator turning debug on for it would write the password to the log.
``protect`` registers a secret and filters every suds logger, so records that contain a
registered secret are logged with it masked.
"""

import logging
import threading

MASK = '***'
_SUDS = 'suds'


class _Redactor(logging.Filter):
    """Masks registered secrets in the records of the loggers it filters."""

    def __init__(self):
        super().__init__()
        self.secrets: frozenset[str] = frozenset()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.secrets
        if secrets:
            message = record.getMessage()
            masked = message
            for secret in secrets:
                masked = masked.replace(secret, MASK)
            if masked != message:
                record.msg, record.args = masked, None
        return True


_REDACTOR = _Redactor()


def protect(secret: str) -> None:
    """Mask ``secret`` in suds' log records from now on (suds must be imported)."""
    if not secret:
        return
    with _REDACTOR.lock:
        _REDACTOR.secrets |= {secret}
        manager = logging.Logger.manager
        names = [name for name in list(manager.loggerDict)
                 if name == _SUDS or name.startswith(_SUDS + '.')]
        for name in names:
            logger = logging.getLogger(name)
            if _REDACTOR not in logger.filters:
                logger.addFilter(_REDACTOR)
