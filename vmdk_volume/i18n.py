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


"""Translation of the messages users and operators read through Cinder's exceptions, as
Cinder's own ``cinder/i18n.py`` marks them (log messages are not translated)."""

import oslo_i18n

DOMAIN = 'vmdk_volume'

_translators = oslo_i18n.TranslatorFactory(domain=DOMAIN)

# The primary translation function, under its well-known name.
_ = _translators.primary
