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

"""Collaborators get what they use: no module of ``vmdk_volume`` reaches through a backend
to its parts (``backend.backings.delete``), and only ``core.provisioning`` calls the backing
primitives that act at a placement it chose, so each operation has one entry."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'vmdk_volume'
# Backings' primitives acting at a given placement and folder, and who may call them: the
# provisioner, and retype's copy onto the backing's own datastore.
PLACED = {'create_at': ('core/provisioning.py',), 'import_lease': ('core/provisioning.py',),
          'extend_in_place': ('core/provisioning.py',),
          'clone_to': ('core/provisioning.py', 'core/retype.py')}


def _module_aliases(tree: ast.Module) -> set[str]:
    return {alias.asname or alias.name.split('.')[0] for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}


def _chain(node: ast.Attribute) -> list[str]:
    """The names of an attribute chain ``a.b.c`` (['a', 'b', 'c']), empty if it does not
    start at a name (a call or subscript in between ends it)."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return [node.id, *reversed(names)] if isinstance(node, ast.Name) else []


def reach_throughs(source: str) -> list[str]:
    """'line: chain' for each ``<backend>.<x>.<y>`` in ``source``: two attributes read
    through something named ``backend`` or ``_backend`` (not an imported module)."""
    tree = ast.parse(source)
    modules = _module_aliases(tree)
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        names = _chain(node)
        for at, name in enumerate(names):
            if name.lstrip('_').endswith('backend') and not (at == 0 and name in modules):
                if len(names) - at > 2:
                    found.append('%d: %s' % (node.lineno, '.'.join(names)))
                break
    return sorted(found, key=lambda text: int(text.split(':')[0]))


def placed_calls(source: str) -> list[str]:
    """The names of ``PLACED`` primitives called in ``source``."""
    return [node.func.attr for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in PLACED]


def _modules() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob('*.py'))


def test_no_module_reaches_through_a_backend():
    found = {str(path.relative_to(ROOT)): hits for path in _modules()
             if (hits := reach_throughs(path.read_text()))}
    assert found == {}


@pytest.mark.parametrize('line', [
    'backend.backings.delete(ref)',
    'self._backend.folders.forget()',
    'path = self.backend.config.volume_folder',
    'return services.backend.policies.profile_id(name)',
])
def test_a_reintroduced_reach_through_is_found(line):
    assert reach_throughs('def f(self):\n    %s\n' % line)


def test_a_backend_s_own_methods_and_modules_named_backend_are_not_reach_throughs():
    source = ('from vmdk_volume.core import backend as vbackend\n'
              'backend = vbackend.Backend.connect(config)\n'
              'client = vbackend.Backend.connect(config).client\n'
              'stores = backend.inventory(refresh=True).datastores\n'
              'self._backend.place(request)\n')
    assert reach_throughs(source) == []


def test_only_the_provisioner_acts_at_a_placement():
    found = {relative: calls for path in _modules()
             if (relative := str(path.relative_to(PACKAGE)))
             and (calls := [name for name in placed_calls(path.read_text())
                            if relative not in PLACED[name]])}
    assert found == {}


def test_a_placed_primitive_called_elsewhere_is_found():
    assert placed_calls('backings.extend_in_place(backing, size)') == ['extend_in_place']
