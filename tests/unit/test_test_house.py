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

"""The tests' house rules, read from their source: what tests share lives in helper modules
and conftest fixtures (no module imports from a test module or a conftest), and what a test
looks at on vCenter it reads through its own view (``tests.vcenter``), never through the
driver's ``_backend``."""

import ast
import pathlib

import tests

TESTS = pathlib.Path(tests.__file__).parent


def _is_test_module(dotted: str) -> bool:
    last = dotted.rsplit('.', 1)[-1]
    return last.startswith('test_') or last == 'conftest'


def imported_test_modules(tree: ast.AST) -> list[str]:
    """The test modules and conftests an import of ``tree`` names."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ''
            if _is_test_module(module):
                found.append(module)
            else:
                found += ['%s.%s' % (module, alias.name) for alias in node.names
                          if _is_test_module(alias.name)]
    return found


def backend_reads(tree: ast.AST) -> list[int]:
    """The lines of ``tree`` that read an attribute ``_backend``."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == '_backend']


def _scan(rule) -> dict[str, object]:
    found = {}
    for path in sorted(TESTS.rglob('*.py')):
        hits = rule(ast.parse(path.read_text(), str(path)))
        if hits:
            found[str(path.relative_to(TESTS))] = hits
    return found


def test_no_module_imports_from_a_test_module_or_a_conftest():
    assert _scan(imported_test_modules) == {}


def test_no_test_reads_the_drivers_backend():
    assert _scan(backend_reads) == {}


def test_the_scans_find_what_they_forbid():
    tree = ast.parse('from tests.cinder.test_lifecycle import NOVA\n'
                     'from tests.functional import test_images as shared\n'
                     'import tests.unit.test_placement\n'
                     'from .conftest import marks\n'
                     'from tests.cinder.helpers import read_backing\n'
                     'client = manager.driver._backend.client\n')
    assert imported_test_modules(tree) == [
        'tests.cinder.test_lifecycle', 'tests.functional.test_images',
        'tests.unit.test_placement', 'conftest']
    assert backend_reads(tree) == [6]
