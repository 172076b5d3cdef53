"""``vmdk-volume orphans``: planted leftovers are found, nothing else is, --delete removes them."""

import io
import uuid

import pytest

from tests.functional.conftest import backend_config, write_conf
from vmdk_volume import backend as vbackend
from vmdk_volume import cli, orphans, volume_type
from vmdk_volume.backings import BackingRequest
from vmdk_volume.simkit import ModelSize, Simulator
from vmdk_volume.vsphere import properties

PROJECT = 'c0ffee00c0ffee00c0ffee00c0ffee00'


@pytest.fixture(scope='module')
def vc():
    """A vCenter of its own: other tests' backings must not count as leftovers here."""
    with Simulator(ModelSize(hosts=2, datastores=2)) as simulator:
        yield simulator


@pytest.fixture(scope='module')
def backend(vc):
    connected = vbackend.Backend.connect(backend_config(vc))
    yield connected
    connected.close()


def _backing(backend, volume_id: str) -> str:
    request = BackingRequest(volume_id=volume_id, name='volume-%s' % volume_id,
                             size_bytes=1024 ** 3, profile=volume_type.parse({}))
    return backend.create_backing(request, PROJECT)


def _template(backend, source: str, snapshot_id: str) -> str:
    request = BackingRequest(volume_id=snapshot_id, name='snapshot-%s' % snapshot_id,
                             size_bytes=1024 ** 3, profile=volume_type.parse({}))
    return backend.clone_backing(backend.describe(source), request, PROJECT, template=True)


def _run(monkeypatch, capsys, conf, owned, *extra) -> list[str]:
    monkeypatch.setattr('sys.stdin', io.StringIO('\n'.join(owned) + '\n'))
    assert cli.main(['orphans', '--config-file', str(conf), '--ids-from-stdin', *extra]) == 0
    return capsys.readouterr().out.splitlines()


def test_planted_leftovers_are_found_and_nothing_else(vc, backend, tmp_path, monkeypatch,
                                                      capsys):
    volume, snapshot, gone_volume, gone_snapshot, gone_cow = (
        str(uuid.uuid4()) for _ in range(5))
    kept = _backing(backend, volume)
    kept_template = _template(backend, kept, snapshot)
    leftover = _backing(backend, gone_volume)
    leftover_template = _template(backend, kept, gone_snapshot)
    cow = backend.backings.snapshot(kept, 'snapshot-%s' % gone_cow)
    conf = write_conf(tmp_path, vc)

    vc.reset_stats()
    found = orphans.find(backend.client, frozenset({volume, snapshot}))
    assert vc.stats().calls == {'CreateContainerView': 1, 'RetrievePropertiesEx': 1,
                                'DestroyView': 1}
    assert {(o.kind, o.name, o.ref, o.owner_id) for o in found} == {
        (orphans.Kind.BACKING, 'volume-%s' % gone_volume, leftover, gone_volume),
        (orphans.Kind.TEMPLATE, 'snapshot-%s' % gone_snapshot, leftover_template,
         gone_snapshot),
        (orphans.Kind.VM_SNAPSHOT, 'snapshot-%s' % gone_cow, cow, gone_cow)}

    listed = _run(monkeypatch, capsys, conf, [volume, snapshot])
    assert len(listed) == 4 and listed[-1] == ('3 orphans (vmdk-volume orphans --delete '
                                               'removes them)')
    assert all(line.startswith('vc  ') for line in listed[:3])

    deleted = _run(monkeypatch, capsys, conf, [volume, snapshot], '--delete')
    assert [line.endswith(': deleted') for line in deleted[:3]] == [True] * 3
    assert deleted[-1] == '3 orphans deleted'
    assert _run(monkeypatch, capsys, conf, [volume, snapshot]) == ['0 orphans']
    assert backend.backings.find(gone_volume) is None
    left = properties.fetch(backend.client, [backend.client.ref('VirtualMachine', ref)
                                             for ref in (kept, kept_template)], ['name'])
    assert sorted(item.value for item in left) == sorted([kept, kept_template])

    for ref in (kept, kept_template):
        backend.backings.delete(ref)


def test_without_a_database_or_ids_it_says_what_to_pass(vc, tmp_path, capsys):
    conf = write_conf(tmp_path, vc)
    assert cli.main(['orphans', '--config-file', str(conf)]) == 2
    assert capsys.readouterr().err == (
        "vmdk-volume orphans: %s has no [database] connection to read Cinder's volumes from: "
        'set it, or pass their ids with --ids-from-stdin\n' % conf)
