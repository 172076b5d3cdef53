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

"""Generate the vSphere vim25 WSDL from the type metadata pyVmomi ships.

A vCenter serves its API description at ``/sdk/vimService.wsdl``, and oslo.vmware builds its
suds SOAP client from that file. govmomi's vCenter simulator (vcsim) serves no WSDL, and
VMware's own files cannot ship with this project, so this module emulates VMware's vim25 WSDL
for one API version (default 7.0.3.0) from pyVmomi's ``_typeinfo_core/query/vim.py``: every
data, enum and managed type, method, parameter and fault with its WSDL name and version.

The typeinfo files are evaluated with recording stubs, so pyVmomi need only be installed.
What the output must match so that suds sends the same requests as with VMware's files:

* one namespace, ``urn:vim25`` (so suds names it ``ns0``, which oslo.vmware's
  ``factory.create('ns0:...')`` relies on); the ``urn:reflect`` types are left out;
* hand-written built-ins (``BUILTIN_TYPES``) that the typeinfo files do not describe;
* managed object types become ``ManagedObjectReference``; type, property and method names
  and links (keys of objects listed elsewhere) become ``xsd:string``; a slot typed
  ``MethodFault`` holds a ``LocalizedMethodFault``;
* inheritance as complexContent extensions with properties in pyVmomi's order, so suds stamps
  ``xsi:type`` on subtypes; optional (or newer than their type) properties get minOccurs=0;
* an ``ArrayOfX`` type for every array anywhere in the API, because values carried as
  ``xsd:anyType`` (PropertyCollector ``val``, ``TaskInfo.result``) name it in ``xsi:type``
  and without it suds silently turns a one-element list into a scalar;
* only what the target version's parent versions define, and that version in ``soapAction``.
"""

import argparse
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import pathlib
import shutil
import tempfile
import types
from collections import defaultdict, namedtuple
from xml.sax.saxutils import quoteattr

DEFAULT_VERSION = '7.0.3.0'
WSDL_NAME = 'vimService.wsdl'
SERVICE_LOCATION = 'https://localhost/sdk/vimService'
TYPEINFO_FILES = ('_typeinfo_core.py', '_typeinfo_query.py', '_typeinfo_vim.py')
F_LINK, F_OPTIONAL = 1, 4  # pyVmomi's flags (also F_LINKABLE 2, F_SECRET 8)

PRIMITIVES = {
    'string': 'string', 'boolean': 'boolean', 'byte': 'byte', 'short': 'short',
    'int': 'int', 'long': 'long', 'float': 'float', 'double': 'double',
    'anyType': 'anyType', 'vmodl.DateTime': 'dateTime', 'vmodl.Binary': 'base64Binary',
    'vmodl.URI': 'anyURI', 'vmodl.TypeName': 'string', 'vmodl.PropertyPath': 'string',
    'vmodl.MethodName': 'string',
}
# pyVmomi types defined in VmomiSupport itself, or written by hand for the WSDL's sake.
BUILTIN_NAMES = {'vmodl.DataObject', 'vmodl.DynamicData', 'vmodl.MethodFault',
                 'vmodl.RuntimeFault', 'vmodl.LocalizedMethodFault'}
BUILTIN_TYPES = """
<complexType name="ManagedObjectReference"><simpleContent><extension base="xsd:string">
  <attribute name="type" type="xsd:string"/></extension></simpleContent></complexType>
<complexType name="DynamicData"><sequence/></complexType>
<complexType name="LocalizedMethodFault"><complexContent>
  <extension base="vim25:DynamicData"><sequence>
    <element name="fault" type="vim25:MethodFault"/>
    <element name="localizedMessage" type="xsd:string" minOccurs="0"/>
  </sequence></extension></complexContent></complexType>
<complexType name="MethodFault"><sequence>
  <element name="faultCause" type="vim25:LocalizedMethodFault" minOccurs="0"/>
  <element name="faultMessage" type="vim25:LocalizableMessage" minOccurs="0"
           maxOccurs="unbounded"/>
</sequence></complexType>
<complexType name="RuntimeFault"><complexContent>
  <extension base="vim25:MethodFault"><sequence/></extension></complexContent></complexType>
"""
# Arrays VMware's WSDL defines although no vim25 slot of pyVmomi's declares them.
BUILTIN_ARRAYS = {'ArrayOfMethodFault': ('MethodFault', 'vim25:MethodFault'),
                  'ArrayOfAnyURI': ('anyURI', 'xsd:anyURI'), 'ArrayOfUri': ('uri', 'xsd:anyURI')}


# The records of pyVmomi's declarations. Types are named by VMODL name (vim.vm.ConfigSpec);
# props are (name, type, version, flags), managed props and params add a privilege, a type
# name ending in [] is an array, `result` is (flags, type, task result type).
DataType = namedtuple('DataType', 'wsdl base version props')
ManagedType = namedtuple('ManagedType', 'wsdl base version props methods')
EnumType = namedtuple('EnumType', 'wsdl version values')
Method = namedtuple('Method', 'name wsdl version params result privilege faults')
Version = namedtuple('Version', 'ns id service_ns')


@dataclasses.dataclass
class TypeInfo:
    """What pyVmomi's typeinfo files declare: dicts keyed by VMODL name."""

    data: dict[str, DataType] = dataclasses.field(default_factory=dict)
    managed: dict[str, ManagedType] = dataclasses.field(default_factory=dict)
    enums: dict[str, EnumType] = dataclasses.field(default_factory=dict)
    versions: dict[str, Version] = dataclasses.field(default_factory=dict)
    parents: dict[str, set[str]] = dataclasses.field(default_factory=lambda: defaultdict(set))


def load_typeinfo() -> TypeInfo:
    """Evaluate pyVmomi's typeinfo files with stubs that record their declarations."""
    spec = importlib.util.find_spec('pyVmomi')
    if spec is None or spec.origin is None:
        raise RuntimeError('pyVmomi is not installed; it supplies the vim25 type metadata')
    package = pathlib.Path(spec.origin).parent
    info = TypeInfo()
    namespace = _recording_stubs(info)
    for name in TYPEINFO_FILES:
        path = package / name
        # Their only imports are `from .VmomiSupport import ...` of what the stubs replace.
        # The files are the installed pyVmomi's own (test tooling, never the driver's path).
        lines = [line for line in path.read_text().splitlines() if not line.startswith('from .')]
        exec(compile('\n'.join(lines), str(path), 'exec'), namespace)  # nosec B102
    return info


def _recording_stubs(info: TypeInfo) -> dict:
    def data_type(name, wsdl, base, version, props):
        info.data[name] = DataType(wsdl, base, version, props or [])

    def managed_type(name, wsdl, base, version, props, methods):
        methods = [Method(*method) for method in methods or []]
        info.managed[name] = ManagedType(wsdl, base, version, props or [], methods)

    def add_version(name, ns, version_id, is_legacy, service_ns):
        info.versions[name] = Version(ns, version_id, service_ns)

    ignored = types.SimpleNamespace(Add=lambda version: None)
    return {
        'CreateDataType': data_type,
        'CreateManagedType': managed_type,
        'CreateEnumType': lambda name, wsdl, version, values:
            info.enums.__setitem__(name, EnumType(wsdl, version, values)),
        'AddVersion': add_version,
        'AddVersionParent': lambda version, parent: info.parents[version].add(parent),
        'AddBreakingChangesInfo': lambda *args: None,
        'F_LINK': F_LINK, 'F_LINKABLE': 2, 'F_OPTIONAL': F_OPTIONAL, 'F_SECRET': 8,
        'newestVersions': ignored, 'ltsVersions': ignored, 'oldestVersions': ignored,
    }


class Vim25Wsdl:
    """Writes the vim25 WSDL of one API version; ``text()`` returns the whole document."""

    def __init__(self, info: TypeInfo, version: str):
        self.info = info
        self.version = version
        self.visible = _visible_versions(info, version)
        self.baseline = _baseline_versions(info)
        self.arrays = dict(BUILTIN_ARRAYS)  # ArrayOfX -> (item element name, qualified type)

    def text(self) -> str:
        methods = [method for managed in self._managed() for method in managed.methods
                   if method.version in self.visible]
        faults = ['MethodFault', 'RuntimeFault']
        faults += [data.wsdl for name, data in self._data() if self._is_fault(name)]
        schema = [BUILTIN_TYPES, *self._enum_types(), *self._data_types()]
        schema += [self._method_schema(method) for method in methods]
        schema += [f'<element name="{fault}Fault" type="vim25:{fault}"/>' for fault in faults]
        self._collect_managed_arrays()
        schema += self._array_types()  # last: every other part registers the arrays it uses
        messages = [self._messages(method) for method in methods]
        messages += [f'<message name="{fault}FaultMsg"><part name="fault" '
                     f'element="vim25:{fault}Fault"/></message>' for fault in faults]
        return _document(schema, messages, [self._port_operation(m) for m in methods],
                         [self._binding_operation(m) for m in methods])

    # -- what the target version includes ------------------------------------------------

    def _data(self) -> list[tuple[str, DataType]]:
        return [(name, data) for name, data in self.info.data.items()
                if data.version in self.visible and name not in BUILTIN_NAMES]

    def _managed(self) -> list[ManagedType]:
        return [managed for managed in self.info.managed.values()
                if managed.version in self.visible]

    def _is_fault(self, name: str) -> bool:
        while name in self.info.data:
            name = self.info.data[name].base
        return name in ('vmodl.MethodFault', 'vmodl.RuntimeFault')

    def _faults_of(self, method: Method) -> list[tuple[str, str]]:
        """(operation fault name, fault type) pairs; like VMware's, RuntimeFault lacks 'Fault'."""
        declared = [self.info.data[name].wsdl for name in method.faults or ()
                    if name in self.info.data and self.info.data[name].version in self.visible]
        return [(wsdl + 'Fault', wsdl) for wsdl in declared] + [('RuntimeFault', 'RuntimeFault')]

    def _optional(self, flags: int, since: str, owner_version: str) -> bool:
        return bool(flags & F_OPTIONAL) or self._is_newer(since, owner_version)

    def _is_newer(self, since: str, owner_version: str) -> bool:
        """Whether a member was added after its type or method (so clients may omit it)."""
        return since not in self.info.parents[owner_version] | self.baseline

    # -- types -----------------------------------------------------------------------------

    def _qualified(self, vmodl_type: str) -> str:
        """The XML Schema type of one (non-array) VMODL type name."""
        if vmodl_type in PRIMITIVES:
            return 'xsd:' + PRIMITIVES[vmodl_type]
        if vmodl_type == 'vmodl.MethodFault':
            return 'vim25:LocalizedMethodFault'
        if vmodl_type == 'vmodl.ManagedObject' or vmodl_type in self.info.managed:
            return 'vim25:ManagedObjectReference'
        return 'vim25:' + self._wsdl_name(vmodl_type)

    def _wsdl_name(self, vmodl_type: str) -> str:
        if vmodl_type in BUILTIN_NAMES:
            return vmodl_type.rpartition('.')[2]
        return (self.info.data.get(vmodl_type) or self.info.enums[vmodl_type]).wsdl

    def _element(self, name: str, vmodl_type: str, optional: bool, flags: int = 0) -> str:
        """One sequence element; registers ArrayOfX for an array type."""
        item = vmodl_type.removesuffix('[]')
        # A link (F_LINK) holds the key of an object listed elsewhere, not the object.
        qualified = 'xsd:string' if flags & F_LINK else self._qualified(item)
        occurs = ' minOccurs="0"' if optional else ''
        if item != vmodl_type:
            self._register_array(qualified)
            occurs += ' maxOccurs="unbounded"'
        return f'<element name="{name}" type="{qualified}"{occurs}/>'

    def _register_array(self, qualified: str) -> None:
        prefix, local = qualified.split(':')
        name = local[0].upper() + local[1:] if prefix == 'xsd' else local  # ArrayOfString
        self.arrays['ArrayOf' + name] = (local, qualified)

    def _enum_types(self) -> list[str]:
        return [f'<simpleType name="{enum.wsdl}"><restriction base="xsd:string">'
                + ''.join(f'<enumeration value={quoteattr(value)}/>' for value in enum.values)
                + '</restriction></simpleType>'
                for enum in self.info.enums.values() if enum.version in self.visible]

    def _data_types(self) -> list[str]:
        return [self._data_type(data) for _, data in self._data()]

    def _data_type(self, data: DataType) -> str:
        elements = ''.join(
            self._element(name, vmodl_type, self._optional(flags, since, data.version), flags)
            for name, vmodl_type, since, flags in data.props if since in self.visible)
        if data.base == 'vmodl.DataObject':  # DynamicData's siblings: no base, like VMware's
            return f'<complexType name="{data.wsdl}"><sequence>{elements}</sequence></complexType>'
        return (f'<complexType name="{data.wsdl}"><complexContent><extension base='
                f'"vim25:{self._wsdl_name(data.base)}"><sequence>{elements}</sequence>'
                '</extension></complexContent></complexType>')

    def _collect_managed_arrays(self) -> None:
        """Arrays that only travel as anyType: managed properties and task results."""
        for managed in self._managed():
            for _, vmodl_type, since, _, _ in managed.props:
                if since in self.visible and vmodl_type.endswith('[]'):
                    self._register_array(self._qualified(vmodl_type[:-2]))
            for method in managed.methods:
                task_result_type = method.result[2]
                if method.version in self.visible and task_result_type.endswith('[]'):
                    self._register_array(self._qualified(task_result_type[:-2]))

    def _array_types(self) -> list[str]:
        return [f'<complexType name="{name}"><sequence><element name="{item}" type='
                f'"{qualified}" minOccurs="0" maxOccurs="unbounded"/></sequence></complexType>'
                for name, (item, qualified) in sorted(self.arrays.items())]

    # -- methods ---------------------------------------------------------------------------

    def _method_schema(self, method: Method) -> str:
        """Request type and element, and response element, e.g. CreateVMRequestType."""
        wsdl, version = method.wsdl, method.version
        result_flags, result_type, _ = method.result
        request = wsdl.removesuffix('_Task') + 'RequestType'
        elements = '<element name="_this" type="vim25:ManagedObjectReference"/>' + ''.join(
            self._element(name, vmodl_type, self._optional(flags, since, version), flags)
            for name, vmodl_type, since, flags, _ in method.params if since in self.visible)
        response = '<complexType/>'
        if result_type != 'void':
            # F_OPTIONAL on a task method describes its task's result; the task is always there.
            optional = bool(result_flags & F_OPTIONAL) and result_type != 'vim.Task'
            returnval = self._element('returnval', result_type, optional)
            response = f'<complexType><sequence>{returnval}</sequence></complexType>'
        return (f'<complexType name="{request}"><sequence>{elements}</sequence></complexType>'
                f'<element name="{wsdl}" type="vim25:{request}"/>'
                f'<element name="{wsdl}Response">{response}</element>')

    @staticmethod
    def _messages(method: Method) -> str:
        wsdl = method.wsdl
        return (f'<message name="{wsdl}RequestMsg"><part name="parameters" '
                f'element="vim25:{wsdl}"/></message>'
                f'<message name="{wsdl}ResponseMsg"><part name="parameters" '
                f'element="vim25:{wsdl}Response"/></message>')

    def _port_operation(self, method: Method) -> str:
        wsdl = method.wsdl
        faults = ''.join(f'<fault name="{name}" message="vim25:{fault}FaultMsg"/>'
                         for name, fault in self._faults_of(method))
        return (f'<operation name="{wsdl}"><input message="vim25:{wsdl}RequestMsg"/>'
                f'<output message="vim25:{wsdl}ResponseMsg"/>{faults}</operation>')

    def _binding_operation(self, method: Method) -> str:
        faults = ''.join(f'<fault name="{name}"><soap:fault name="{name}" use="literal"/>'
                         '</fault>' for name, _ in self._faults_of(method))
        return (f'<operation name="{method.wsdl}"><soap:operation soapAction="urn:vim25/'
                f'{self.version}" style="document"/><input><soap:body use="literal"/></input>'
                f'<output><soap:body use="literal"/></output>{faults}</operation>')


def _visible_versions(info: TypeInfo, version: str) -> set[str]:
    """The vim25 version names (and their vmodl parents) that API `version` includes."""
    names = [name for name, known in info.versions.items()
             if known.id == version and known.ns == 'vim25']
    if not names:
        known = sorted(known.id for known in info.versions.values() if known.ns == 'vim25')
        raise ValueError(f'unknown vSphere API version {version!r}; pyVmomi knows {known}')
    return {parent for parent in info.parents[names[0]]
            if info.versions[parent].service_ns == 'vim25'}  # not urn:reflect's


def _baseline_versions(info: TypeInfo) -> set[str]:
    """The oldest vim25 version (2.5) and its parents: vim25's starting point.

    Members added by 2.5 to types of vim2 (2.0) are as required as the types' own.
    """
    oldest = min((name for name, known in info.versions.items() if known.ns == 'vim25'),
                 key=lambda name: len(info.parents[name]))
    return info.parents[oldest]


def _document(schema: list[str], messages: list[str], port: list[str],
              binding: list[str]) -> str:
    newline = '\n'
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by vmdk_volume_simkit.wsdl from pyVmomi's type metadata. -->
<definitions targetNamespace="urn:vim25" xmlns="http://schemas.xmlsoap.org/wsdl/"
  xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:vim25="urn:vim25"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema">
<types>
<schema targetNamespace="urn:vim25" xmlns="http://www.w3.org/2001/XMLSchema"
  xmlns:vim25="urn:vim25" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
  elementFormDefault="qualified">
{newline.join(schema)}
</schema>
</types>
{newline.join(messages)}
<portType name="VimPortType">
{newline.join(port)}
</portType>
<binding name="VimBinding" type="vim25:VimPortType">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{newline.join(binding)}
</binding>
<service name="VimService"><port binding="vim25:VimBinding" name="VimPort">
<soap:address location="{SERVICE_LOCATION}"/></port></service>
</definitions>
"""


def generate(target_dir: pathlib.Path, version: str = DEFAULT_VERSION) -> pathlib.Path:
    """Write the vim25 WSDL of API `version` into `target_dir`; return vimService.wsdl's path."""
    text = Vim25Wsdl(load_typeinfo(), version).text()
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / WSDL_NAME
    path.write_text(text, encoding='utf-8')
    return path


def ensure(cache_root: pathlib.Path, version: str = DEFAULT_VERSION) -> pathlib.Path:
    """Return a directory holding vimService.wsdl for `version`, generating it once.

    The directory is named after the version and a hash of pyVmomi's version and this
    module's source. Concurrent callers race safely: each generates into a temporary
    directory and renames it into place; a loser discards its copy.
    """
    target = cache_root / f'{version}-{_source_hash()}'
    if (target / WSDL_NAME).exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=cache_root, prefix='.wsdl-'))
    try:
        generate(staging, version)
        try:
            staging.rename(target)
        except OSError:
            if not (target / WSDL_NAME).exists():  # not a lost race with another process
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _source_hash() -> str:
    digest = hashlib.sha256(importlib.metadata.version('pyVmomi').encode())
    digest.update(pathlib.Path(__file__).read_bytes())
    return digest.hexdigest()[:12]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog='python -m vmdk_volume_simkit.wsdl',
        description="Write the vSphere vim25 WSDL, generated from pyVmomi's type metadata.")
    parser.add_argument('outdir', type=pathlib.Path, help='directory to write vimService.wsdl')
    parser.add_argument('--version', default=DEFAULT_VERSION,
                        help='vSphere API version (default %(default)s)')
    args = parser.parse_args(argv)
    print(generate(args.outdir, args.version))


if __name__ == '__main__':
    main()
