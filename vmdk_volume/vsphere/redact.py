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
