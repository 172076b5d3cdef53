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

"""What users and operators read through Cinder's exceptions is marked for translation in the
``vmdk_volume`` domain, as Cinder marks its own (oslo.i18n's lazy translation, with a
translator that prefixes each message with its domain and language)."""

import types

import oslo_i18n
import pytest
from cinder import exception
from oslo_i18n import fixture as i18n_fixture

from vmdk_volume.core import placement
from vmdk_volume.driver import errors, locations


@pytest.fixture
def translated():
    """``translated(message)``: the message as a user whose language is en_US reads it."""
    with i18n_fixture.PrefixLazyTranslation():
        yield lambda message: oslo_i18n.translate(message, 'en_US')


def test_a_refused_provider_location_is_marked(translated):
    volume = types.SimpleNamespace(id='v-1', provider_location='not-a-moref')
    with pytest.raises(exception.InvalidVolume) as raised:
        locations.volume_backing(volume)
    assert translated(raised.value.kwargs['reason']) == (
        "vmdk_volume/en_US: volume v-1 has provider_location 'not-a-moref', which is not a "
        'backing moref value (this driver records e.g. vm-42; the in-tree driver records '
        'nothing): not acting on it')


def test_a_failure_the_driver_translates_is_marked(translated):
    @errors.translated
    def create():
        raise placement.NoPlacement('no datastore has 5 GiB free')
    with pytest.raises(exception.VolumeBackendAPIException) as raised:
        create()
    assert translated(raised.value.kwargs['data']) == (
        'vmdk_volume/en_US: no place for the volume: no datastore has 5 GiB free')


def test_without_lazy_translation_messages_are_plain_text():
    volume = types.SimpleNamespace(id='v-1', provider_location='vm-x')
    lazy = i18n_fixture.ToggleLazy(False)   # whatever an earlier test in this process set
    lazy.setUp()
    try:
        with pytest.raises(exception.InvalidVolume) as raised:
            locations.volume_backing(volume)
    finally:
        lazy.cleanUp()
    assert type(raised.value.kwargs['reason']) is str
