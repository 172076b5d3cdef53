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

"""vmdk-volume: a Cinder volume driver keeping volumes as VMDK files on VMware vCenter."""

from pbr import version as pbr_version

# The package's version, from pbr (git tags): what get_volume_stats reports as driver_version
# and the vCenter extension registers.
DRIVER_VERSION = pbr_version.VersionInfo('vmdk-volume').version_string()
