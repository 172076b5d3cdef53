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
    logger = logging.getLogger('suds.client')
    redact.protect('one')
    filters = list(logger.filters)
    redact.protect('two')
    assert logger.filters == filters
