"""An operator switches ``volume_driver`` from Cinder's in-tree VMDK driver to ours.

Cinder's in-tree driver, loaded by Cinder's own VolumeManager (``tests.cinder.intree``), makes
volumes and snapshots on a vCenter of their own; then the same database rows are served by our
driver on the same backend section, for each ``vmware_snapshot_format``. Data is checked in
the simulator's disk files; at the end nothing the in-tree driver or ours made is left.
"""

import pytest
from cinder import objects

from tests.cinder import intree
from vmdk_volume.simkit import ModelSize, Simulator
from vmdk_volume.vsphere import inventory


@pytest.fixture(scope='module')
def legacy_vc():
    """A vCenter that only the in-tree driver and then ours use."""
    with Simulator(ModelSize(hosts=2, datastores=2)) as vc:
        yield vc


@pytest.fixture(scope='module')
def client(legacy_vc):
    connected = intree.client_for(legacy_vc)
    yield connected
    connected.close()


class Upgraded:
    """The in-tree driver's objects, now served by our driver's VolumeManager."""

    def __init__(self, cinder, manager, made: dict, snapshot_format: str):
        self.cinder, self.manager, self.made = cinder, manager, made
        self.snapshot_format = snapshot_format

    def volume(self, role: str):
        return objects.Volume.get_by_id(self.cinder.context, self.made[role])

    def snapshot(self, role: str):
        return objects.Snapshot.get_by_id(self.cinder.context, self.made[role])

    def create_volume(self, **source):
        volume = self.cinder.new_volume(self.section, **source)
        self.manager.create_volume(self.cinder.context, volume)
        volume.refresh()
        return volume

    @property
    def section(self) -> str:
        return self.manager.host.split('@', 1)[1]


@pytest.fixture(scope='module', params=['template', 'COW'])
def upgraded(request, cinder, legacy_vc, tmp_path_factory):
    snapshot_format = request.param
    section = 'legacy-%s' % snapshot_format.lower()
    made = intree.produce(cinder.database, legacy_vc, section, snapshot_format,
                          tmp_path_factory.mktemp(section))
    assert made['statuses'] == ['available'], made
    manager = cinder.add_backend(section, legacy_vc,
                                 {'vmware_snapshot_format': snapshot_format})
    return Upgraded(cinder, manager, made, snapshot_format)


def _vm_names(client) -> set[str]:
    return {item.get('name') for item in inventory.virtual_machines(client, ['name'])}


def test_volume_from_an_intree_snapshot_holds_the_snapshots_data(upgraded, client):
    volume = upgraded.create_volume(snapshot_id=upgraded.made['snapshot'])
    assert volume.status == 'available'
    assert intree.disk_file(client, volume.provider_location).read_bytes() == intree.BEFORE
