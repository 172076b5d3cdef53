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

"""Tempest's volume API tests and cinder-tempest-plugin's API tests against the service stack
with Keystone (tests/tempest/conftest.py): every test not in the exclude list passes or is
skipped by Tempest itself."""

import re

from tests.tempest import runner


def test_exclude_list_names_existing_tests_with_reasons(tempest):
    listed = tempest.listed()
    for regex, reason in runner.exclusions().items():
        assert reason, 'exclude-list.txt: %s gives no reason' % regex
        assert any(re.search(regex, test) for test in listed), \
            'exclude-list.txt: %s names no test of %s' % (regex, runner.REGEX)


def test_volume_api_has_no_unexpected_failure(results):
    assert results.passed(), 'Tempest ran no test: %s' % results.statuses
    assert not results.failed(), 'Tempest failures (%s):\n%s' % (
        results.summary(), '\n'.join(results.failed()))
