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

"""Bad input, table-driven through Cinder's VolumeManager: every wrong extra spec, image,
manage reference, connector and backend option gets the matching Cinder exception with a
message saying what to fix, and leaves nothing behind on vCenter (VMs, templates, folders,
datastore files)."""

import dataclasses
import os
import pathlib
import subprocess
from collections.abc import Callable

import pytest
from cinder import exception, objects

from tests import vcenter
from tests.cinder.helpers import NOVA_CONNECTOR, attached_once, vm_to_attach
from vmdk_volume.vsphere import properties

MiB = 1024 ** 2


@dataclasses.dataclass(frozen=True)
class Row:
    """One bad input: ``prepare(cinder, tmp_path)`` sets it up and returns the call that
    must fail."""

    what: str
    prepare: Callable
    error: type[Exception]
    message: str                    # a regex the exception's message must contain
    status: str | None = None       # the volume's status afterwards


def footprint(driver) -> tuple[frozenset, frozenset]:
    """Every VM, template and folder, and every file on the (local) datastores."""
    client = vcenter.of(driver).client
    view = properties.container_view(client, client.content.rootFolder,
                                     ['VirtualMachine', 'Folder', 'Datastore'])
    items = properties.collect(client, view, {'VirtualMachine': ['name'],
                                              'Folder': ['name'], 'Datastore': ['info.url']})
    entities = frozenset((item.ref._type, item.value, item.get('name')) for item in items
                         if item.ref._type != 'Datastore')
    files = frozenset(os.path.join(top, name)
                      for item in items if item.ref._type == 'Datastore'
                      for top, _dirs, names in os.walk(item.get('info.url'))
                      for name in names)
    assert files, 'the datastores should hold the simulator\'s VMs'
    return entities, files


# -- how each kind of input is fed ---------------------------------------------------------

def typed(specs: dict):
    """Create a volume of a type with ``specs``."""
    def prepare(cinder, tmp_path):
        # For no configured backend, so `vmdk-volume check` (tests/cinder/test_check.py)
        # does not report its unknown storage policy against vc1.
        vtype = cinder.volume_type('bad-input-%s' % abs(hash(repr(specs))),
                                   dict(specs, volume_backend_name='bad-input'))
        return _creation(cinder, cinder.new_volume('vc1', volume_type=vtype))
    return prepare


def image(make: Callable[[pathlib.Path], pathlib.Path], disk_format: str,
          container: str = 'bare', **props):
    """Create a volume from an image of ``make(tmp_path)``'s bytes."""
    def prepare(cinder, tmp_path):
        image_id = cinder.images.add(make(tmp_path), disk_format, container, **props)
        return _creation(cinder, cinder.new_volume('vc1'), image_id)
    return prepare


def _creation(cinder, volume, image_id=None):
    spec = objects.RequestSpec(image_id=image_id) if image_id else None

    def act():
        try:
            cinder.managers['vc1'].create_volume(cinder.context, volume, request_spec=spec,
                                                 allow_reschedule=False)
        finally:
            volume.refresh()
    return volume, act


def managed(reference: Callable):
    """Manage what ``reference(cinder)`` names."""
    def prepare(cinder, tmp_path):
        ref = reference(cinder)
        volume = objects.Volume(context=cinder.context, size=0, status='managing',
                                attach_status='detached', host='cinder@vc1#vc1',
                                project_id=cinder.context.project_id, user_id='u',
                                availability_zone='nova')
        volume.create()

        def act():
            try:
                cinder.managers['vc1'].manage_existing(cinder.context, volume, ref)
            finally:
                volume.refresh()
        return volume, act
    return prepare


def attached(connector: Callable):
    """Attach a new (lazy) volume with ``connector(cinder)``."""
    def prepare(cinder, tmp_path):
        volume, shape = cinder.create_volume('vc1'), connector(cinder)
        return volume, lambda: cinder.managers['vc1'].initialize_connection(
            cinder.context, volume, shape)
    return prepare


# -- the inputs ------------------------------------------------------------------------------

def _qemu(tmp_path, name, *args) -> pathlib.Path:
    out = tmp_path / name
    subprocess.run(['qemu-img', *args, str(out)], check=True, capture_output=True)
    return out


def raw(tmp_path, size=MiB) -> pathlib.Path:
    path = tmp_path / 'disk.raw'
    path.write_bytes(os.urandom(size))
    return path


def qcow2(tmp_path) -> pathlib.Path:
    return _qemu(tmp_path, 'disk.qcow2', 'convert', '-f', 'raw', '-O', 'qcow2',
                 str(raw(tmp_path)))


def backed_qcow2(tmp_path) -> pathlib.Path:
    return _qemu(tmp_path, 'backed.qcow2', 'create', '-f', 'qcow2', '-b',
                 str(qcow2(tmp_path)), '-F', 'qcow2')


def big_qcow2(tmp_path) -> pathlib.Path:
    path = tmp_path / 'big.qcow2'
    subprocess.run(['qemu-img', 'create', '-f', 'qcow2', str(path), '2G'], check=True,
                   capture_output=True)
    return path


def corrupt_vmdk(tmp_path) -> pathlib.Path:
    """A sparse VMDK whose header's grain directory points past the end of the file."""
    vmdk = _qemu(tmp_path, 'disk.vmdk', 'convert', '-f', 'raw', '-O', 'vmdk', '-o',
                 'subformat=streamOptimized', str(raw(tmp_path)))
    data = bytearray(vmdk.read_bytes())
    data[4:8] = (99).to_bytes(4, 'little')           # version 99
    data[56:64] = (2 ** 40).to_bytes(8, 'little')    # gdOffset far beyond the data
    vmdk.write_bytes(bytes(data))
    return vmdk


def a_template(cinder):
    volume = attached_once(cinder, 'vc1')
    snapshot = cinder.create_snapshot('vc1', volume)
    return {'source-id': snapshot.provider_location.split(':', 1)[1]}


def grown(source: str):
    """Create a 1 GiB volume from a template snapshot (``source`` 'snapshot') or a volume
    whose disk grew to 2 GiB after Cinder recorded 1 GiB (an extend raced the snapshot)."""
    def prepare(cinder, tmp_path):
        volume = attached_once(cinder, 'vc1')
        cinder.managers['vc1'].driver.extend_volume(volume, 2)
        if source == 'snapshot':
            made = {'snapshot_id': cinder.create_snapshot('vc1', volume).id}
        else:
            made = {'source_volid': volume.id}
        return _creation(cinder, cinder.new_volume('vc1', **made))
    return prepare


def a_running_vm(cinder):
    instance, _ = vm_to_attach(cinder.managers['vc1'].driver)
    return {'source-id': instance}


def a_host(cinder):
    _, host = vm_to_attach(cinder.managers['vc1'].driver)
    return dict(NOVA_CONNECTOR, instance=host)


ROWS = [
    Row('vmdk_type unknown', typed({'vmware:vmdk_type': 'fat'}),
        exception.InvalidVolumeType, "vmware:vmdk_type='fat' is invalid; allowed values: "
                                     'thin, thick, eagerZeroedThick', 'error'),
    Row('clone_type unknown', typed({'vmware:clone_type': 'deep'}),
        exception.InvalidVolumeType, "vmware:clone_type='deep'.*full, linked", 'error'),
    Row('adapter_type unknown', typed({'vmware:adapter_type': 'nvme'}),
        exception.InvalidVolumeType, "vmware:adapter_type='nvme'.*paraVirtual", 'error'),
    Row('storage_profile blank', typed({'vmware:storage_profile': ' '}),
        exception.InvalidVolumeType, 'expected a storage-policy name', 'error'),
    Row('storage_profile unknown', typed({'vmware:storage_profile': 'Platinum'}),
        exception.InvalidVolumeType, "no storage policy named 'Platinum' \\(it has: .*vSAN",
        'error'),
    Row('image disk_format iso', image(raw, 'iso'),
        exception.ImageUnacceptable, "disk_format 'iso' is not supported", 'error'),
    Row('image container docker', image(raw, 'raw', 'docker'),
        exception.ImageUnacceptable, "container format 'docker' is not supported", 'error'),
    Row('image vmware_disktype bogus', image(raw, 'vmdk', vmware_disktype='sparsest'),
        exception.ImageUnacceptable, "vmware_disktype 'sparsest' is not supported", 'error'),
    # Cinder's create flow checks the virtual size itself, before the driver is called.
    Row('image larger than the volume', image(big_qcow2, 'qcow2'),
        exception.ImageUnacceptable, "virtual size is 2GB and doesn't fit in a volume of "
                                     'size 1GB', 'error'),
    Row('image with a corrupt VMDK header', image(corrupt_vmdk, 'vmdk',
                                                  vmware_disktype='streamOptimized'),
        exception.ImageUnacceptable, 'the VMDK sparse header is not acceptable \\(version 99',
        'error'),
    # Cinder's flow refuses it (Invalid) before the driver is called, then masks that error
    # while cleaning up image metadata the volume never had (Cinder 29): the driver's
    # own refusal ('a qcow2 image may not have a data file or backing file') is
    # tests/functional/test_images.py's.
    Row('qcow2 image with a backing file', image(backed_qcow2, 'qcow2'),
        exception.GlanceMetadataNotFound, 'Glance metadata for volume', 'error'),
    Row('qcow2 data declared raw', image(qcow2, 'raw'),
        exception.ImageUnacceptable, 'claims to be raw but its data is qcow2', 'error'),
    Row('template snapshot larger than recorded', grown('snapshot'),
        exception.InvalidVolume, 'the disk of snapshot-.* on vCenter is 2.00 GiB, larger than '
                                 'the 1 GiB volume asked for .*at least 2 GiB', 'error'),
    Row('source volume larger than recorded', grown('volume'),
        exception.InvalidVolume, 'the disk of volume-.* on vCenter is 2.00 GiB.*at least 2 GiB',
        'error'),
    Row('manage reference without keys', managed(lambda cinder: {'name': 'x'}),
        exception.ManageExistingInvalidReference, "give {'source-id'", 'error_managing'),
    Row('manage reference to an unknown VM', managed(lambda cinder: {'source-id': 'vm-4242'}),
        exception.ManageExistingInvalidReference, 'vCenter has no VM vm-4242',
        'error_managing'),
    Row('manage reference to a template', managed(a_template),
        exception.ManageExistingInvalidReference, 'is a template, not a VM',
        'error_managing'),
    Row('manage reference to a running VM', managed(a_running_vm),
        exception.ManageExistingInvalidReference, 'power it off first', 'error_managing'),
    Row('manage reference by an unknown inventory path',
        managed(lambda cinder: {'source-name': '[ds] x.vmdk@DC0/vm/nothing'}),
        exception.ManageExistingInvalidReference, "no VM at inventory path 'DC0/vm/nothing'",
        'error_managing'),
    Row('connector that is not a dict', attached(lambda cinder: ['compute-1']),
        exception.InvalidInput, 'connector must be a dict'),
    Row('connector with an empty instance', attached(lambda cinder: dict(NOVA_CONNECTOR,
                                                                         instance='')),
        exception.InvalidInput, 'instance.*moref'),
    Row('connector instance unknown', attached(lambda cinder: dict(NOVA_CONNECTOR,
                                                                   instance='vm-4242')),
        exception.VolumeBackendAPIException, "instance 'vm-4242' is not a VM vCenter has"),
    Row('connector instance is a host', attached(a_host),
        exception.VolumeBackendAPIException, 'is not a VM vCenter has'),
]


@pytest.mark.parametrize('row', ROWS, ids=[row.what for row in ROWS])
def test_bad_input_is_refused_and_leaves_nothing(cinder, tmp_path, row):
    driver = cinder.managers['vc1'].driver
    volume, act = row.prepare(cinder, tmp_path)
    before = footprint(driver)
    with pytest.raises(row.error, match=row.message):
        act()
    assert footprint(driver) == before
    if row.status:
        assert volume.status == row.status


RETRY = {'num_attempts': 1, 'backends': [], 'hosts': []}    # as the scheduler sends it


@pytest.mark.parametrize('specs, rescheduled', [
    ({'vmware:vmdk_type': 'fat'}, False),              # no vCenter of ours accepts it
    ({'vmware:storage_profile': 'Platinum'}, True),    # another vCenter may have it
], ids=['invalid value', 'policy not on this vCenter'])
def test_an_invalid_extra_spec_is_not_rescheduled(cinder, specs, rescheduled):
    """A create the scheduler may retry elsewhere: Cinder's flow fails the volume (error)
    instead of sending it back to the scheduler (``creating`` again) unless another backend
    could accept the type."""
    # for no configured backend, so `vmdk-volume check` does not report it against vc1
    vtype = cinder.volume_type('reschedule-%s' % list(specs)[0],
                               dict(specs, volume_backend_name='bad-input'))
    volume = cinder.new_volume('vc1', volume_type=vtype)
    spec = objects.RequestSpec(volume_id=volume.id, volume_type=objects.VolumeType.get_by_id(
        cinder.context, vtype['id']), volume_properties=objects.VolumeProperties(size=1))
    with pytest.raises(exception.InvalidVolumeType, match=list(specs)[0]):
        cinder.managers['vc1'].create_volume(cinder.context, volume, request_spec=spec,
                                             filter_properties={'retry': dict(RETRY)})
    volume.refresh()
    assert volume.status == ('creating' if rescheduled else 'error')


CONFIG_ROWS = [
    ({'vmware_host_password': None}, 'vmware_host_password is not set'),
    ({'vmware_host_ip': ''}, 'vmware_host_ip is not set'),
    ({'vmware_cluster_name': ['gold', 'DC0_C0']}, 'vmware_cluster_name names clusters '
                                                  '.* gold \\(it has: DC0_C0\\)'),
    ({'vmware_datastore_regex': 'ssd-('}, "vmware_datastore_regex 'ssd-\\(' is not a valid"),
    ({'vmware_ca_file': '/etc/ssl/certs/ca-certificates.crt'}, 'vmware_ca_file'),
    ({'vmware_volume_folder': ' '}, "vmware_volume_folder ' ' is not a valid folder path"),
    ({'vmware_volume_folder': 'a//b'}, 'not blank, separated by /'),
    ({'vmware_volume_folder': 'v' * 81}, 'each name must be 1 to 80 characters'),
    ({'vmware_image_cache_folder': 'cache/images'},
     "vmware_image_cache_folder 'cache/images' is not a valid folder name.*without /"),
]


@pytest.mark.parametrize('options, message', CONFIG_ROWS,
                         ids=[','.join(options) for options, _ in CONFIG_ROWS])
def test_bad_option_fails_setup_naming_it_and_leaves_nothing(cinder, driver_for, options,
                                                              message):
    before = footprint(cinder.managers['vc1'].driver)
    driver = driver_for(**options)
    with pytest.raises((exception.InvalidConfigurationValue,
                        exception.VolumeBackendAPIException), match=message):
        driver.do_setup(None)
    assert footprint(cinder.managers['vc1'].driver) == before


@pytest.mark.parametrize('option', ['vmware_image_transfer_timeout_secs',
                                    'vmware_api_retry_count', 'vmware_task_poll_interval',
                                    'vmware_image_cache_max_count'])
def test_negative_numbers_are_refused_by_option_type(driver_for, option):
    with pytest.raises(ValueError, match='greater than or equal to'):
        driver_for(**{option: -1})
