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

"""Release notes are reno notes: YAML mappings of reno's sections to lists of text."""

import pathlib
import re

import pytest
import yaml

NOTES = pathlib.Path(__file__).resolve().parents[2] / 'releasenotes' / 'notes'
SECTIONS = {'features', 'issues', 'upgrade', 'deprecations', 'critical', 'security', 'fixes',
            'other'}


@pytest.mark.parametrize('path', sorted(NOTES.iterdir()), ids=lambda p: p.name)
def test_note_is_reno_yaml(path):
    assert re.fullmatch(r'[a-z0-9-]+-[0-9a-f]{16}\.yaml', path.name), path.name
    note = yaml.safe_load(path.read_text())
    assert isinstance(note, dict) and note, path.name
    assert set(note) <= SECTIONS | {'prelude'}, set(note) - SECTIONS
    for section, entries in note.items():
        if section == 'prelude':
            assert isinstance(entries, str)
        else:
            assert isinstance(entries, list) and entries
            assert all(isinstance(entry, str) and entry.strip() for entry in entries)
