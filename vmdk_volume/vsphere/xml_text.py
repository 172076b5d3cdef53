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

"""Text as XML 1.0 can carry it: what the driver sends is valid whatever the user typed.

vCenter refuses a request holding a character outside XML's ``Char`` production (control
characters but tab, newline and carriage return; lone surrogates; U+FFFE, U+FFFF) with
``xml.Unmarshal: XML syntax error ... illegal character``. ``valid`` writes each such
character as a Python-style escape (``\\x07``, ``\\udc80``), so the text stays recognisable;
XML metacharacters are escaped by suds as it serialises. ``Client.create`` and
``Client.call`` pass every string they are given through it.
"""

import re

_ILLEGAL = re.compile('[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def valid(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry escaped (see the module
    docstring); ``text`` itself if it has none."""
    return _ILLEGAL.sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return '\\x%02x' % code if code < 0x100 else '\\u%04x' % code


def valid_value(value):
    """``value`` made valid if it is a string or a list or tuple of strings; else as is."""
    if isinstance(value, str):
        return valid(value)
    if isinstance(value, (list, tuple)) and any(isinstance(item, str) for item in value):
        return type(value)(valid(item) if isinstance(item, str) else item for item in value)
    return value
