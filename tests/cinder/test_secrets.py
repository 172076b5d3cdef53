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

"""Secrets: TLS verified unless told otherwise, and ``vmware_host_password`` in no log record
(any logger, any level), no exception message and no connection info unless
``vmware_connector_credentials`` asks for it."""

import logging
import uuid

import certifi
import pytest
from cinder import exception, objects
from vmdk_volume_simkit import ModelSize, Simulator

from tests import vcenter
from tests.cinder.helpers import (
    BRICK_CONNECTOR,
    NOVA_CONNECTOR,
    folder_path,
    read_backing,
    vm_to_attach,
)
from vmdk_volume.driver import options

SCHEMA_LOGGERS = ('suds.xsd', 'suds.wsdl')    # parsing the WSDL, before any call: 30,000
                                             # DEBUG records per session, no call data


@pytest.fixture
def debug_logs():
    """Every log record of every logger at DEBUG (but the WSDL parser's), as text."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))
    root, handler = logging.getLogger(), Keep(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict)]
    levels = [(logger, logger.level) for logger in [root, *loggers]]
    for logger, _ in levels:
        logger.setLevel(logging.INFO if logger.name.startswith(SCHEMA_LOGGERS)
                        else logging.DEBUG)
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)
    for logger, level in levels:
        logger.setLevel(level)


def test_tls_is_verified_by_default(driver_for):
    assert next(o for o in options.vmdk_opts if o.dest == 'vmware_insecure').default is False
    driver = driver_for(vmware_ca_file=None)
    with pytest.raises(exception.VolumeBackendAPIException,
                       match="could not be verified with the system's trusted CAs: set "
                             'vmware_ca_file'):
        driver.do_setup(None)


def test_insecure_connects_without_a_ca_file(driver_for):
    driver = driver_for(vmware_ca_file=None, vmware_insecure=True)
    driver.do_setup(None)
    assert driver.get_volume_stats(refresh=True)['total_capacity_gb'] > 0


def test_a_ca_file_wins_over_insecure(driver_for):
    driver = driver_for(vmware_ca_file=certifi.where(), vmware_insecure=True)
    with pytest.raises(exception.VolumeBackendAPIException, match='could not be verified'):
        driver.do_setup(None)


def _lifecycle(cinder, driver):
    """Create, attach (Nova and os-brick), snapshot, clone, extend, upload, delete."""
    instance, _ = vm_to_attach(driver)
    volume = cinder.new_volume('vc1')
    driver.create_volume(volume)
    volume.update(driver.create_export(None, volume, dict(NOVA_CONNECTOR, instance=instance)))
    infos = [driver.initialize_connection(volume, dict(NOVA_CONNECTOR, instance=instance)),
             driver.initialize_connection(volume, BRICK_CONNECTOR)]
    volume.save()
    snapshot = objects.Snapshot(context=cinder.context, volume_id=volume.id, volume_size=1,
                                status='creating', project_id=volume.project_id, user_id='u')
    snapshot.create()
    snapshot.update(driver.create_snapshot(snapshot))
    clone = cinder.new_volume('vc1')
    clone.update(driver.create_cloned_volume(clone, volume))
    driver.extend_volume(clone, 2)
    upload = cinder.images.create_empty()
    driver.copy_volume_to_image(cinder.context, volume, cinder.images, upload)
    driver.delete_snapshot(snapshot)
    for each in (clone, volume):
        driver.delete_volume(each)
    return infos


def _failures(cinder, driver):
    """The exceptions of operations refused for bad input."""
    bad_type = cinder.volume_type('secrets-bad', {'vmware:vmdk_type': 'fat'})
    calls = [
        lambda: driver.create_volume(cinder.new_volume('vc1', volume_type=bad_type)),
        lambda: driver.manage_existing(cinder.new_volume('vc1'), {'source-id': 'vm-4242'}),
        lambda: driver.initialize_connection(cinder.new_volume('vc1'),
                                             dict(NOVA_CONNECTOR, instance='vm-4242')),
    ]
    failures = []
    for call in calls:
        with pytest.raises(exception.CinderException) as caught:
            call()
        failures.append(caught.value)
    return failures


def test_password_is_in_no_log_record_exception_or_connection_info(cinder, driver_for,
                                                                  debug_logs):
    password = 'pw-%s' % uuid.uuid4().hex
    driver = driver_for(vmware_host_password=password)
    driver.do_setup(None)
    infos = _lifecycle(cinder, driver)
    failures = _failures(cinder, driver)

    assert len(debug_logs) > 500 and any('Login' in line for line in debug_logs)
    assert not [line for line in debug_logs if password in line]
    assert not [str(error) for error in failures if password in str(error)]
    assert password not in repr(infos)
    assert 'vmware_host_username' not in infos[1]['data']['config']


def test_connection_info_carries_credentials_only_when_enabled(driver_for, cinder):
    password = 'pw-%s' % uuid.uuid4().hex
    driver = driver_for(vmware_host_password=password, vmware_connector_credentials=True)
    driver.do_setup(None)
    volume = cinder.new_volume('vc1')
    instance, _ = vm_to_attach(driver)
    volume.update(driver.create_export(None, volume, dict(NOVA_CONNECTOR, instance=instance)))
    try:
        config = driver.initialize_connection(volume, BRICK_CONNECTOR)['data']['config']
        nova = driver.initialize_connection(volume, dict(NOVA_CONNECTOR, instance=instance))
    finally:
        driver.delete_volume(volume)
    assert (config['vmware_host_username'], config['vmware_host_password']) == (
        'admin', password)
    assert password not in repr(nova)      # Nova's vmwareapi connector gets no credentials


@pytest.fixture(scope='module')
def guarded_vc():
    """A simulator accepting only admin / right-password."""
    with Simulator(ModelSize(hosts=1, datastores=1), username='admin',
                   password='right-password') as vc:
        yield vc


def test_a_refused_login_names_the_options_not_the_password(driver_for, guarded_vc,
                                                            debug_logs):
    password = 'pw-%s' % uuid.uuid4().hex
    driver = driver_for(vmware_host_ip=guarded_vc.host, vmware_host_port=guarded_vc.port,
                        vmware_ca_file=guarded_vc.ca_file, vmware_host_password=password)
    with pytest.raises(exception.VolumeBackendAPIException,
                       match="refused the login of 'admin': check vmware_host_username and "
                             'vmware_host_password') as caught:
        driver.do_setup(None)
    assert password not in str(caught.value)
    assert debug_logs and not [line for line in debug_logs if password in line]


def test_a_project_id_with_path_characters_is_escaped_in_the_inventory(cinder):
    manager = cinder.managers['vc1']
    instance, _ = vm_to_attach(manager.driver)
    volume = cinder.new_volume('vc1')
    volume.project_id = 'p/1%[x]'
    volume.save()
    manager.initialize_connection(cinder.context, volume, dict(NOVA_CONNECTOR,
                                                               instance=instance))
    volume.refresh()
    try:
        backing = read_backing(manager.driver, volume.id)
        described = vcenter.of(manager.driver).describe(volume.provider_location)
        assert folder_path(vcenter.of(manager.driver).client, backing['parent']) == (
            'OpenStack/Project (p%2f1%25[x])/Volumes')
        assert described.vmdk_path.endswith('] %s/%s.vmdk' % (volume.name, volume.name))
    finally:
        manager.delete_volume(cinder.context, volume)
