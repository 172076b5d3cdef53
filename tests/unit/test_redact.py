"""Registered secrets are masked in suds' log records, whatever the level."""

import logging
import uuid

import suds.client  # noqa: F401 - creates suds' loggers, as oslo.vmware's import does

from vmdk_volume.vsphere import redact


def test_a_registered_secret_is_masked_in_suds_records(caplog):
    secret = 'pw-%s' % uuid.uuid4().hex
    redact.protect(secret)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger='suds'):
        logging.getLogger('suds.client').debug('message:\n<password>%s</password>', secret)
        logging.getLogger('suds.mx.literal').debug('value = "%s"' % secret)
    assert [r.getMessage() for r in caplog.records] == [
        'message:\n<password>***</password>', 'value = "***"']


def test_protecting_twice_filters_once():
    redact.protect('one')
    redact.protect('two')
    assert logging.getLogger('suds.client').filters.count(redact._REDACTOR) == 1
