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

"""Text sent to vCenter is valid XML 1.0 whatever it held, and still recognisable."""

import xml.etree.ElementTree as ElementTree
from xml.sax.saxutils import escape

import pytest

from vmdk_volume.vsphere import xml_text

EVERY_CHARACTER = ''.join(map(chr, range(0x110000)))


def _parsed(text: str) -> str:
    """``text`` as an XML parser (expat) reads it back from an element."""
    return ElementTree.fromstring('<a>%s</a>' % escape(text)).text or ''


def test_every_character_comes_out_as_text_an_xml_parser_reads_back():
    made = xml_text.valid(EVERY_CHARACTER)
    assert _parsed(made.replace('\r', '')) == made.replace('\r', '')


@pytest.mark.parametrize('text, expected', [
    ('backup\x07 of\x00 db\x1b[0m', 'backup\\x07 of\\x00 db\\x1b[0m'),
    ('lone \udc80 surrogate', 'lone \\udc80 surrogate'),
    ('not a character: \ufffe\uffff', 'not a character: \\ufffe\\uffff'),
    ('vertical\x0btab, form\x0cfeed, del\x7f', 'vertical\\x0btab, form\\x0cfeed, del\x7f'),
])
def test_characters_xml_cannot_carry_become_escapes(text, expected):
    assert xml_text.valid(text) == expected


@pytest.mark.parametrize('text', [
    'Projekt für Überprüfung, 日本語のボリューム, emoji \U0001f600',
    '<b>&amp; "quoted" \'single\' ]]> </b>',
    'tab\tnewline\ncarriage return\r',
    'x' * 300,
    '',
])
def test_text_xml_can_carry_is_unchanged(text):
    assert xml_text.valid(text) == text


def test_long_text_with_everything_is_escaped_in_place():
    text = ('é<&>\x01' * 60)[:300]
    made = xml_text.valid(text)
    assert made == text.replace('\x01', '\\x01') and _parsed(made) == made


def test_values_other_than_strings_pass_as_they_are():
    marker = object()
    assert xml_text.valid_value(['a\x02', 3, marker]) == ['a\\x02', 3, marker]
    assert xml_text.valid_value(('b\x03',)) == ('b\\x03',)
    assert xml_text.valid_value(marker) is marker
    assert xml_text.valid_value(7) == 7
