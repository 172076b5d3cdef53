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

"""The translation function itself, without Cinder: so the lower-bounds check
(tools/check-lower-bounds) runs it on the oldest oslo.i18n requirements.txt allows."""

import oslo_i18n

from vmdk_volume.i18n import DOMAIN, _


def _marked(lazy: bool) -> str:
    """A marked message as the driver formats one, with lazy translation on or off (off
    again afterwards, oslo.i18n's default)."""
    oslo_i18n.enable_lazy(lazy)
    try:
        return _('volume %s has no backing') % 'v-1'
    finally:
        oslo_i18n.enable_lazy(False)


def test_a_marked_message_is_translated_later_in_the_drivers_domain():
    message = _marked(lazy=True)
    assert type(message) is not str and message.domain == DOMAIN
    assert oslo_i18n.translate(message, 'de_DE') == 'volume v-1 has no backing'


def test_without_lazy_translation_a_marked_message_is_plain_text():
    message = _marked(lazy=False)
    assert type(message) is str and message == 'volume v-1 has no backing'
