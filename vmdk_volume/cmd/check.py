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

"""``vmdk-volume check``: is each backend of a cinder.conf usable, and if not, what to fix.

For one backend section it connects with the section's options and reports, in order:
options, reachability, certificate, login, vCenter version, each configured cluster, every
datastore (usable, or why placement excludes it), storage policies named in the options or in
volume types, the volume folder and the user's privileges. A failed step that later ones need
(options, network, certificate, login) ends the report. No finding ever holds the password.
"""

import dataclasses
import enum
import socket
import ssl
import time
from collections.abc import Callable, Mapping

from vmdk_volume.core import backend as vbackend
from vmdk_volume.core import folders, intree, placement
from vmdk_volume.core.config import BackendConfig, ConfigError
from vmdk_volume.units import GiB
from vmdk_volume.vsphere import client as vclient
from vmdk_volume.vsphere import errors, permissions, policies
from vmdk_volume.vsphere import session as vsession
from vmdk_volume.vsphere.inventory import Inventory

CONNECT_TIMEOUT_S = 10
STORAGE_PROFILE_SPEC = 'vmware:storage_profile'


class Status(enum.StrEnum):
    OK = 'ok'
    WARNING = 'warning'
    ERROR = 'error'
    EXCLUDED = 'excluded'      # a datastore placement will not use (not an error by itself)


@dataclasses.dataclass(frozen=True)
class Finding:
    topic: str                 # 'login', 'cluster', 'datastore', ...
    subject: str               # what it is about: a cluster, datastore or policy name, or ''
    status: Status
    detail: str


@dataclasses.dataclass
class BackendReport:
    name: str
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not any(f.status is Status.ERROR for f in self.findings)

    def add(self, topic: str, status: Status, detail: str, subject: str = '') -> Finding:
        finding = Finding(topic, subject, status, detail)
        self.findings.append(finding)
        return finding

    def as_dict(self) -> dict:
        return {'backend': self.name, 'usable': self.usable,
                'findings': [dataclasses.asdict(f) for f in self.findings]}


class _Stop(Exception):
    """A step failed that the following ones need."""


def check_backend(name: str, section, volume_types: Mapping[str, Mapping] | None = None,
                  progress: Callable[[str], None] = lambda step: None,
                  recorded: list[intree.Recorded] | None = None) -> BackendReport:
    """The report on one backend ``section`` (an object with its ``vmware_*`` options);
    ``volume_types`` (name -> extra specs) are checked for storage policies if given, and
    the backend's volumes and snapshots in Cinder's database (``recorded``) for whether the
    driver can serve them, the in-tree driver's among them."""
    report = BackendReport(name)
    try:
        progress('options')
        config = _options(report, section)
        progress('network')
        _reachable(report, config)
        _certificate(report, config)
        progress('login')
        client = _login(report, config)
    except _Stop:
        return report
    try:
        backend = vbackend.Backend(config, client)
        _version(report, config, client)
        progress('inventory')
        inventory = backend.inventory(refresh=True)
        _clusters(report, config, inventory)
        progress('datastores')
        verdicts = placement.explain(inventory, backend.placement_request(0))
        _datastores(report, backend, inventory, verdicts)
        _pools(report, config, backend, section)
        progress('storage policies')
        _policies(report, config, policies.Policies(client), list(inventory.datastores),
                  section, volume_types)
        progress('folders and privileges')
        _folder(report, config, inventory)
        _privileges(report, config, client, inventory,
                    {v.datastore.ref for v in verdicts if v.excluded_by is None})
        if recorded is not None:
            progress('volumes and snapshots')
            _recorded(report, intree.InTree(client), recorded)
    except errors.VSphereError as error:
        report.add('vCenter', Status.ERROR, 'the check stopped on an error: %s' % error)
    finally:
        client.close()
    return report


def _options(report: BackendReport, section) -> BackendConfig:
    try:
        config = BackendConfig.from_options(section)
    except ConfigError as error:
        report.add('options', Status.ERROR, str(error))
        raise _Stop from None
    endpoint = config.endpoint
    report.add('options', Status.OK, 'vCenter %s as %r (password set)'
               % (endpoint.address, endpoint.username))
    return config


def _reachable(report: BackendReport, config: BackendConfig) -> None:
    endpoint = config.endpoint
    start = time.monotonic()
    try:
        socket.create_connection((endpoint.host, endpoint.port), CONNECT_TIMEOUT_S).close()
    except OSError as error:
        report.add('network', Status.ERROR, '%s cannot be reached (%s): check '
                   'vmware_host_ip and vmware_host_port, and the firewall'
                   % (endpoint.address, error.strerror or error))
        raise _Stop from None
    report.add('network', Status.OK, '%s accepts connections (%d ms)'
               % (endpoint.address, (time.monotonic() - start) * 1000))


def _certificate(report: BackendReport, config: BackendConfig) -> None:
    endpoint = config.endpoint
    if endpoint.insecure and not endpoint.ca_file:
        report.add('certificate', Status.WARNING, 'not verified (vmware_insecure = True): '
                   'set vmware_ca_file to the CA bundle that signed it')
        return
    how = endpoint.ca_file or "the system's trusted CAs"
    try:
        context = ssl.create_default_context(cafile=endpoint.ca_file)
        with socket.create_connection((endpoint.host, endpoint.port), CONNECT_TIMEOUT_S) as raw, \
                context.wrap_socket(raw, server_hostname=endpoint.host):
            pass
    except ssl.SSLError as error:
        if vsession.hostname_mismatch(error):
            report.add('certificate', Status.ERROR, vsession.wrong_name(endpoint))
            raise _Stop from None
        report.add('certificate', Status.ERROR, 'not verified with %s (%s): set '
                   'vmware_ca_file to the CA bundle that signed it'
                   % (how, getattr(error, 'verify_message', None) or error.reason or error))
        raise _Stop from None
    except OSError as error:     # a bad CA file, or the TLS handshake broke
        report.add('certificate', Status.ERROR, 'TLS to %s failed with %s: %s (check '
                   'vmware_ca_file)' % (endpoint.address, how, error.strerror or error))
        raise _Stop from None
    report.add('certificate', Status.OK, 'verified with %s' % how)


def _login(report: BackendReport, config: BackendConfig) -> vclient.Client:
    endpoint = dataclasses.replace(config.endpoint, api_retry_count=0)
    try:
        client = vclient.Client.connect(endpoint)
    except errors.VSphereError as error:
        report.add('login', Status.ERROR, str(error))
        raise _Stop from None
    report.add('login', Status.OK, 'logged in as %r' % endpoint.username)
    return client


def _version(report: BackendReport, config: BackendConfig, client: vclient.Client) -> None:
    about = client.content.about
    version = config.host_version or about.version
    if about.apiType != 'VirtualCenter':
        report.add('version', Status.ERROR, '%s is an ESXi host, not a vCenter server: '
                   'set vmware_host_ip to the vCenter' % about.fullName)
    elif vbackend.version_tuple(version) < vbackend.MIN_VCENTER_VERSION:
        report.add('version', Status.ERROR, '%s: at least vCenter %s is required'
                   % (about.fullName, '.'.join(map(str, vbackend.MIN_VCENTER_VERSION))))
    else:
        forced = ' (vmware_host_version = %s)' % version if config.host_version else ''
        report.add('version', Status.OK, about.fullName + forced)


def _clusters(report: BackendReport, config: BackendConfig, inventory: Inventory) -> None:
    if not config.clusters:
        hosts = list(inventory.hosts.values())
        usable = sum(h.usable for h in hosts)
        report.add('cluster', Status.OK if usable else Status.ERROR,
                   'vmware_cluster_name unset: every host is used (%d, %d usable)'
                   % (len(hosts), usable))
        return
    found = {c.name: c for c in inventory.clusters_named(config.clusters)}
    have = sorted(c.name for c in inventory.compute_resources.values() if c.is_cluster)
    for name in config.clusters:
        cluster = found.get(name)
        if cluster is None:
            report.add('cluster', Status.ERROR, 'not found in vCenter: fix vmware_cluster_name '
                       '(clusters: %s)' % (', '.join(have) or 'none'), name)
            continue
        hosts = [inventory.hosts[h] for h in cluster.hosts if h in inventory.hosts]
        counts = (len(hosts), sum(h.connected for h in hosts),
                  sum(h.in_maintenance for h in hosts))
        usable = any(h.usable for h in hosts)
        report.add('cluster', Status.OK if usable else Status.ERROR,
                   '%d hosts: %d connected, %d in maintenance' % counts
                   + ('' if usable else ': no usable host'), name)


def _datastores(report: BackendReport, backend: vbackend.Backend, inventory: Inventory,
                verdicts: list[placement.Verdict]) -> None:
    for verdict in verdicts:
        store = verdict.datastore
        detail = '%s, %s free of %s, mounted on %d hosts' % (
            store.type, _gib(store.free_space), _gib(store.capacity),
            len(store.usable_hosts()))
        if verdict.excluded_by:
            report.add('datastore', Status.EXCLUDED, '%s: %s' % (detail, verdict.excluded_by),
                       store.name)
        else:
            report.add('datastore', Status.OK, detail, store.name)
    if not any(v.excluded_by is None for v in verdicts):
        try:
            placement.select(inventory, backend.placement_request(0))
        except placement.NoPlacement as error:
            report.add('placement', Status.ERROR, 'no datastore can hold volumes: %s' % error)


def _pools(report: BackendReport, config: BackendConfig, backend: vbackend.Backend,
           section) -> None:
    """The pools as the scheduler will see them (``vmware_pools``)."""
    if not config.pool_per_datastore:
        name = getattr(section, 'volume_backend_name', None) or 'vmdk'
        [pool] = backend.pools(name)
        report.add('pool', Status.OK, 'the one pool of the backend (vmware_pools = backend): '
                   '%s free of %s' % (_gib(pool.free), _gib(pool.total)), pool.name)
        return
    for pool in backend.pools():
        if pool.down:
            report.add('pool', Status.EXCLUDED, 'down, no capacity reported: %s' % pool.down,
                       pool.name)
        else:
            report.add('pool', Status.OK, 'up: %s free of %s, %s provisioned' % (
                _gib(pool.free), _gib(pool.total), _gib(pool.provisioned)), pool.name)


def _policies(report: BackendReport, config: BackendConfig, known: policies.Policies,
              datastores: list[str], section,
              volume_types: Mapping[str, Mapping] | None) -> None:
    wanted = {name: 'vmware_storage_profile' for name in config.storage_profiles}
    backend_name = getattr(section, 'volume_backend_name', None)
    for type_name, specs in (volume_types or {}).items():
        policy = specs.get(STORAGE_PROFILE_SPEC)
        if policy and specs.get('volume_backend_name') in (None, backend_name):
            wanted.setdefault(policy, 'volume type %s' % type_name)
    for policy, named_by in sorted(wanted.items()):
        try:
            profile_id = known.profile_id(policy)
        except errors.NotFound as error:
            report.add('storage policy', Status.ERROR, 'named by %s: %s'
                       % (named_by, error.args[0].partition(': ')[2]), policy)
            continue
        count = len(known.compatible(profile_id, datastores))
        report.add('storage policy', Status.OK if count else Status.ERROR,
                   'named by %s: %d compatible datastores' % (named_by, count), policy)


def _folder(report: BackendReport, config: BackendConfig, inventory: Inventory) -> None:
    path = '/'.join(folders.volume_folder_path('<project id>', config.volume_folder))
    datacenters = sorted(dc.name for dc in inventory.datacenters.values())
    report.add('volume folder', Status.OK, 'volumes go to %s in the VM folder of %s '
               '(created on demand)' % (path, ', '.join(datacenters)))


def _privileges(report: BackendReport, config: BackendConfig, client: vclient.Client,
                inventory: Inventory, usable: set[str]) -> None:
    refs = ([('Folder', dc.vm_folder) for dc in inventory.datacenters.values()]
            + [('Datastore', ref) for ref in sorted(usable)]
            + [('ResourcePool', cr.resource_pool)
               for cr in inventory.compute_resources.values()])
    names = {dc.vm_folder: 'VM folder of %s' % dc.name for dc in inventory.datacenters.values()}
    names.update({ref: 'datastore %s' % inventory.datastores[ref].name for ref in usable})
    names.update({cr.resource_pool: 'resource pool of %s' % cr.name
                  for cr in inventory.compute_resources.values()})
    lacking = permissions.missing(client, refs)
    for item in lacking:
        report.add('privileges', Status.ERROR, 'missing on %s: %s (grant them to %r)'
                   % (names.get(item.ref, item.ref), ', '.join(item.privileges),
                      config.endpoint.username))
    if not lacking:
        report.add('privileges', Status.OK, 'every privilege the driver needs is granted on '
                   '%d objects' % len(refs))


def _recorded(report: BackendReport, lookups: intree.InTree,
              rows: list[intree.Recorded]) -> None:
    """Counts of the backend's volumes and snapshots by what Cinder's database records; each
    one that cannot be served, and why (templates recorded by inventory path are looked up:
    one call each)."""
    kinds: dict[tuple[str, str], list[intree.Recorded]] = {}
    for row in rows:
        kinds.setdefault((row.kind, intree.classify(row)), []).append(row)
    for row in kinds.get(('volume', 'unknown'), []) + kinds.get(('snapshot', 'unknown'), []):
        report.add('in-tree', Status.ERROR, '%s %s: provider_location %r is neither this '
                   "driver's nor the in-tree driver's: it cannot be served"
                   % (row.kind, row.id, row.provider_location), subject=row.id)
    templates = 0
    for row in kinds.get(('snapshot', 'inventory path'), []):
        if lookups.entity_at(row.provider_location) is None:
            report.add('in-tree', Status.ERROR, 'snapshot %s: no template at its inventory '
                       'path %r: volumes cannot be made from it' % (row.id,
                                                                  row.provider_location),
                       subject=row.id)
        else:
            templates += 1
    named = _old_backings(report, lookups, kinds.get(('volume', 'none'), []))
    counts = [
        (len(kinds.get(('volume', 'none'), [])), "volumes with no recorded backing (the in-tree "
         "driver's, or never attached): found by instanceUuid, or by name"),
        (named, 'backings of old in-tree releases among them (no instanceUuid): found by '
         'name, marked at first use'),
        (templates, 'in-tree template snapshots (inventory path): found by path'),
        (len(kinds.get(('snapshot', 'none'), [])), 'snapshots with nothing recorded (in-tree '
         'COW, or of a volume without backing): found by name in the backing'),
        (len(kinds.get(('volume', 'ours'), [])) + len(kinds.get(('snapshot', 'ours'), [])),
         "volumes and snapshots recorded by this driver"),
    ]
    report.add('in-tree', Status.OK, '; '.join('%d %s' % count for count in counts)
               + ': they will be served')


def _old_backings(report: BackendReport, lookups: intree.InTree,
                  rows: list[intree.Recorded]) -> int:
    """How many of the volumes ``rows`` have a backing of an old in-tree release (found by
    name: one read of every VM); each whose name several VMs carry is an error."""
    found, duplicated = lookups.old_backings()
    for row in rows:
        refs = duplicated.get('volume-%s' % row.id)
        if refs:
            report.add('in-tree', Status.ERROR, 'volume %s: %d VMs are named volume-%s (%s) '
                       'and none carries its id: none is taken as its backing; remove or '
                       'rename the others' % (row.id, len(refs), row.id, ', '.join(refs)),
                       subject=row.id)
    return sum('volume-%s' % row.id in found for row in rows)


def _gib(size: int) -> str:
    return ('%.1f' % (size / GiB)).removesuffix('.0') + ' GiB'


def format_text(reports: list[BackendReport]) -> str:
    """The reports as a readable table, one block per backend."""
    lines = []
    for report in reports:
        lines.append('backend %s: %s' % (report.name, 'usable' if report.usable
                                           else 'NOT USABLE'))
        rows = [(f.status.value, f.topic, f.subject, f.detail) for f in report.findings]
        widths = [max([len(row[i]) for row in rows] + [0]) for i in range(3)]
        lines += ['  %-*s  %-*s  %-*s  %s' % (widths[0], status, widths[1], topic,
                                              widths[2], subject, detail)
                  for status, topic, subject, detail in rows]
        lines.append('')
    return '\n'.join(lines).rstrip() + '\n'
