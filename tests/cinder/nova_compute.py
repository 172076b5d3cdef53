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

"""Nova's compute side in a process of its own, as nova-compute is in a deployment: Nova's
``VMwareAPISession`` and ``VMwareVolumeOps`` attach and detach our volumes on a simulated
vCenter, with a real ``nova.objects.Instance``, unpatched.

nova.conf and Cinder's options cannot share one process (both register options such as
``default_availability_zone`` on oslo.config's global CONF), so ``NovaCompute`` runs this
module as a child (``python -m tests.cinder.nova_compute``) and sends it one JSON request a
line on stdin; the child answers one JSON line on stdout: the result, or the exception's
class and message.
"""

import json
import subprocess
import sys


class NovaError(Exception):
    """What Nova raised in the child: ``kind`` is the exception's class name."""

    def __init__(self, kind: str, message: str):
        super().__init__('%s: %s' % (kind, message))
        self.kind = kind


class NovaCompute:
    """A nova-compute child logged in to a simulated vCenter (see the module docstring)."""

    def __init__(self, vc):
        self._process = subprocess.Popen(
            [sys.executable, '-m', 'tests.cinder.nova_compute'], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        self._request('login', host=vc.host, port=vc.port, cacert=vc.ca_file)

    def attach(self, attachment: dict, instance_uuid: str) -> dict:
        """Nova's ``VMwareVolumeOps.attach_volume`` for the instance ``instance_uuid``, given
        the attachment as Cinder's API shows it (``attachment_update``'s reply): the
        connection info Nova made of it (its ``nova.volume.cinder`` translation)."""
        return self._request('attach', attachment=attachment, uuid=instance_uuid)

    def detach(self, connection_info: dict, instance_uuid: str) -> None:
        """Nova's ``VMwareVolumeOps.detach_volume`` (with its consolidation) with the
        connection info ``attach`` returned, as Nova keeps it in its block device mapping."""
        self._request('detach', connection_info=connection_info, uuid=instance_uuid)

    def connector(self, instance_uuid: str) -> dict:
        """Nova's ``VMwareVolumeOps.get_volume_connector`` for the instance."""
        return self._request('connector', uuid=instance_uuid)

    def find_cluster_and_datacenter(self, cluster: str, datastore: str) -> dict:
        """Nova's ``vm_util.get_cluster_ref_by_name`` and ``ds_util.get_dc_info`` (oslo.vmware's
        recursive traversal): the cluster's and the datastore's datacenter's moref values."""
        return self._request('find', cluster=cluster, datastore=datastore)

    def swaps_volumes(self) -> bool:
        """Whether Nova's VMware driver implements ``swap_volume`` (Cinder's migration of an
        attached volume asks Nova for it) rather than the base driver's NotImplementedError."""
        return self._request('swaps')

    def _request(self, op: str, **args):
        if self._process.poll() is not None:
            raise NovaError('ProcessExited', 'the Nova child exited with %s'
                            % self._process.returncode)
        self._process.stdin.write(json.dumps({'op': op, 'args': args}, default=str) + '\n')
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise NovaError('ProcessExited', 'the Nova child exited with %s'
                            % self._process.wait())
        reply = json.loads(line)
        if 'error' in reply:
            raise NovaError(reply['error'], reply['message'])
        return reply.get('result')

    def close(self) -> None:
        self._process.stdin.close()
        self._process.wait(timeout=30)
        self._process.stdout.close()


# -- the child -------------------------------------------------------------------------------

def _serve() -> None:
    """Answer requests until stdin closes (Nova's logging goes to stderr)."""
    import nova.conf
    from nova import objects
    objects.register_all()
    nova.conf.CONF([], project='nova')
    out, sys.stdout = sys.stdout, sys.stderr   # nothing but replies on the pipe
    ops = _Ops()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {'result': getattr(ops, request['op'])(**request['args'])}
        except Exception as error:
            reply = {'error': type(error).__name__, 'message': str(error)}
        out.write(json.dumps(reply, default=str) + '\n')
        out.flush()


class _Ops:
    def __init__(self):
        self._session = self._volumeops = None

    def login(self, host: str, port: int, cacert: str) -> None:
        import nova.conf
        from nova.virt.vmwareapi import session, volumeops
        nova.conf.CONF.set_override('host_ip', host, group='vmware')
        self._session = session.VMwareAPISession(
            host_ip=host, host_port=port, username='nova', password='secret', retry_count=2,
            cacert=cacert, insecure=False)
        self._volumeops = volumeops.VMwareVolumeOps(self._session)

    def attach(self, attachment: dict, uuid: str) -> dict:
        from nova.volume import cinder
        connection_info = cinder._translate_attachment_ref(attachment)['connection_info']
        self._volumeops.attach_volume(connection_info, _instance(uuid))
        return connection_info

    def detach(self, connection_info: dict, uuid: str) -> None:
        self._volumeops.detach_volume(connection_info, _instance(uuid))

    def find(self, cluster: str, datastore: str) -> dict:
        from nova.virt.vmwareapi import ds_util, vm_util
        from oslo_vmware import vim_util
        found = vm_util.get_cluster_ref_by_name(self._session, cluster)
        info = ds_util.get_dc_info(self._session, vim_util.get_moref(datastore, 'Datastore'))
        return {'cluster': getattr(found, 'value', None), 'datacenter': info.ref.value,
                'datacenter_name': info.name}

    def connector(self, uuid: str) -> dict:
        return self._volumeops.get_volume_connector(_instance(uuid))

    def swaps(self) -> bool:
        from nova.virt import driver
        from nova.virt.vmwareapi import driver as vmware
        return vmware.VMwareVCDriver.swap_volume is not driver.ComputeDriver.swap_volume


def _instance(uuid: str):
    """The instance as Nova's compute manager hands it to its driver, loaded from its
    database: a uuid and an id (its name derives from the id; here from the uuid)."""
    from nova import objects
    return objects.Instance(uuid=uuid, id=int(uuid[:8], 16))


if __name__ == '__main__':
    _serve()
