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
and conftest fixtures (no module imports from a test module or a conftest), what a test
looks at on vCenter it reads through its own view (``tests.vcenter``), never through the
driver's ``_backend``; no test reaches into a private: an attribute ``_name`` is read or set
only on ``self`` or ``cls`` (a class's own), or is one of ``OTHERS_PRIVATES``, and no private
name is imported from the product or the kit; and no helper forwards unknown attributes."""

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


# Names with a leading underscore that tests may use on objects not their own, each for a
# reason; every one is still used (``test_each_allowed_private_is_used``).
OTHERS_PRIVATES = {
    '_type': "suds's name for a reference's XML attribute ``type``: a managed object "
             "reference's type, public for suds, oslo.vmware and the product alike",
    '_create_session': 'the oslo.vmware internal that vsphere/internals.py relies on, '
                       'checked by test_internals to still exist',
    '_translate_attachment_ref': "Nova's own turning of Cinder's attachment into "
                                 'connection_info; its public callers need a Cinder API '
                                 'server, which the in-process harness does not run',
}
OUR_PACKAGES = ('vmdk_volume', 'vmdk_volume_simkit')


def _private(name: str) -> bool:
    """A leading underscore, not a dunder, and not ``_`` alone (gettext's public name for
    the translation function)."""
    return name.startswith('_') and not name.startswith('__') and name != '_'


def _reaches(node: ast.AST) -> bool:
    """Whether ``node`` reads or sets an attribute ``_name`` of something not ``self``,
    ``cls`` or allowed, or imports a private name (or module) of ours."""
    if isinstance(node, ast.Attribute):
        own = isinstance(node.value, ast.Name) and node.value.id in ('self', 'cls')
        return _private(node.attr) and not own and node.attr not in OTHERS_PRIVATES
    if isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] in OUR_PACKAGES:
        return any(_private(part) for part in node.module.split('.')) or any(
            _private(alias.name) for alias in node.names)
    return False


def private_reaches(tree: ast.AST) -> list[int]:
    """The lines of ``tree`` that reach into a private (see ``_reaches``)."""
    return sorted({node.lineno for node in ast.walk(tree) if _reaches(node)})


def forwarders(tree: ast.AST) -> list[int]:
    """The lines of ``tree`` defining ``__getattr__``: a helper that hands on whatever it is
    asked for hides which product objects a test uses."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == '__getattr__']


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


def test_no_test_reaches_into_a_private():
    assert _scan(private_reaches) == {}


def test_no_test_helper_forwards_what_it_is_asked_for():
    assert _scan(forwarders) == {}
    assert forwarders(ast.parse('class Wired:\n    def __getattr__(self, name):\n'
                                '        return name\n')) == [2]


def test_each_allowed_private_is_used():
    used = {node.attr for path in TESTS.rglob('*.py')
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)}
    assert set(OTHERS_PRIVATES) - used == set()


def test_the_private_scan_finds_what_it_forbids():
    tree = ast.parse('assert client._tasks._infos == {}\n'
                     'images._entries = {}\n'
                     'self._backend.close()\n'
                     'from vmdk_volume.core.across import _ReadAhead\n'
                     'from vmdk_volume.vsphere._wire import call\n'
                     'self._x, cls._y, ref._type, value.__class__\n'
                     'from tests.soap.fake import _method_of\n'
                     'from vmdk_volume.core import across\n')
    assert private_reaches(tree) == [1, 2, 4, 5]
