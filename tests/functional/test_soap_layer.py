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


"""Only the vSphere layer speaks SOAP: no module outside ``vmdk_volume/vsphere/`` names a
vim25 or pbm operation, builds a vim25 data object or reference, or reaches suds' factory."""

import ast
import pathlib
import xml.etree.ElementTree as ET

import oslo_vmware
import pytest
from vmdk_volume_simkit import wsdl

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'vmdk_volume'
# The vSphere layer, and the simulator kit (a distribution of its own, vCenter's side).
EXEMPT = (PACKAGE / 'vsphere',)
WSDL = '{http://schemas.xmlsoap.org/wsdl/}'
XSD = '{http://www.w3.org/2001/XMLSchema}'
BUILDERS = ('create', 'ref')      # Client.create (data objects), Client.ref (references)


@pytest.fixture(scope='module')
def vocabulary(wsdl_dir) -> tuple[frozenset[str], frozenset[str]]:
    """(operation names, type names) of the vim25 WSDL vCenter serves and of oslo.vmware's
    pbm WSDL, and the managed object types pyVmomi declares."""
    pbm = sorted((pathlib.Path(oslo_vmware.__file__).parent / 'wsdl').glob('*/pbm.wsdl'))[-1]
    operations, types = set(), set()
    for path in (wsdl_dir / 'vimService.wsdl', pbm):
        root = ET.parse(path).getroot()
        operations |= {op.get('name') for op in root.iter(WSDL + 'operation')}
        types |= {t.get('name') for t in root.iter(XSD + 'complexType') if t.get('name')}
    managed = {kind.wsdl for kind in wsdl.load_typeinfo().managed.values()}
    return frozenset(operations), frozenset(types | managed)


def offences(source: str, operations: frozenset[str], types: frozenset[str]) -> list[str]:
    """'line: what' for each SOAP operation named (a string or an attribute), each vim25
    object built with ``.create``/``.ref`` and each use of suds' ``factory`` in ``source``."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings and node.value in operations:
            found.append('%d: operation %s' % (node.lineno, node.value))
        elif isinstance(node, ast.Attribute) and (node.attr in operations
                                                  or node.attr == 'factory'):
            found.append('%d: .%s' % (node.lineno, node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in BUILDERS and node.args \
                and isinstance(node.args[0], ast.Constant) and node.args[0].value in types:
            found.append('%d: .%s(%r)' % (node.lineno, node.func.attr, node.args[0].value))
    return sorted(found, key=lambda text: int(text.split(':')[0]))


def product_modules() -> list[pathlib.Path]:
    return sorted(path for path in PACKAGE.rglob('*.py')
                  if not any(path.is_relative_to(exempt) for exempt in EXEMPT))


def test_no_module_outside_the_vsphere_layer_speaks_soap(vocabulary):
    found = {str(path.relative_to(ROOT)): hits for path in product_modules()
             if (hits := offences(path.read_text(), *vocabulary))}
    assert found == {}


@pytest.mark.parametrize('line', [
    "client.run('CreateVM_Task', folder, config=config)",
    "client.call('FindAllByUuid', index, uuid=volume_id)",
    "session.vim.RetrievePropertiesEx(collector, specSet=[spec])",
    "client.create('VirtualMachineConfigSpec', deviceChange=changes)",
    "client.ref('VirtualMachine', ref)",
    "client.session.vim.client.factory.create('ns0:PropertyFilterSpec')",
    "method = 'MarkAsTemplate'",
])
def test_a_reintroduced_soap_call_is_found(vocabulary, line):
    assert offences('def f():\n    """A docstring naming CreateVM_Task is fine."""\n    %s\n'
                    % line, *vocabulary)


def test_prose_and_other_names_are_not_offences(vocabulary):
    source = ('"""CreateVM_Task, named in a docstring."""\n'
              "volume_types.create(context, 'gold', specs)\n"
              "LOG.info('Created backing %s', ref)\n")
    assert offences(source, *vocabulary) == []
