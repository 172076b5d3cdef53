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

"""The core's failures raised as the Cinder exceptions operators see."""

import contextlib
import functools

from cinder import exception

from vmdk_volume.core import manage, placement, provisioning, volume_type
from vmdk_volume.core.config import ConfigError
from vmdk_volume.core.images import formats, qemu, transfer
from vmdk_volume.i18n import _
from vmdk_volume.vsphere import errors


class UnusableVolumeType(exception.InvalidVolumeType, exception.VolumeTypeNotFound):
    """An extra spec whose value no backend of this driver accepts. Cinder's create flow
    fails the volume at once for a VolumeTypeNotFound (one of its ``no_reschedule_types``)
    instead of rescheduling it to nodes that would refuse it alike; the message and HTTP code
    are InvalidVolumeType's. Raised only where Cinder's create flow calls (RPC casts): an
    RPC call would return a class outside cinder.exception as a RemoteError."""


def translated(method):
    """Raise the core's failures out of ``method`` as Cinder exceptions."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except provisioning.InUse as error:
            raise exception.InvalidVolume(reason=str(error)) from error
        except volume_type.InvalidExtraSpec as error:
            raise exception.InvalidVolumeType(reason=str(error)) from error
        except ConfigError as error:
            raise exception.InvalidConfigurationValue(message=str(error)) from error
        except placement.NoPlacement as error:
            raise exception.VolumeBackendAPIException(
                data=_('no place for the volume: %s') % error) from error
        except errors.VSphereError as error:
            raise exception.VolumeBackendAPIException(data=str(error)) from error
    return wrapper


def created(method):
    """For the methods Cinder's create flow calls (under ``translated``): an invalid extra
    spec raises UnusableVolumeType, not rescheduled; a storage policy this vCenter lacks is
    left to ``translated`` (InvalidVolumeType: rescheduled, another vCenter may have it)."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except volume_type.PolicyNotHere:
            raise
        except volume_type.InvalidExtraSpec as error:
            raise UnusableVolumeType(reason=str(error)) from error
    return wrapper


@contextlib.contextmanager
def image_errors(image_id: str):
    """Raise the image core's failures as Cinder's image exceptions."""
    try:
        yield
    except formats.ImageUnacceptable as error:
        raise exception.ImageUnacceptable(image_id=image_id, reason=str(error)) from error
    except transfer.TransferFailed as error:
        raise exception.ImageCopyFailure(reason=str(error)) from error
    except qemu.Unconfined as error:
        raise exception.VolumeBackendAPIException(data=str(error)) from error


@contextlib.contextmanager
def reference_errors(existing_ref):
    """Raise a bad manage reference as Cinder's ManageExistingInvalidReference."""
    try:
        yield
    except manage.InvalidReference as error:
        raise exception.ManageExistingInvalidReference(existing_ref=existing_ref,
                                                       reason=str(error)) from error
