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

"""One version: the driver reports the package's version (pbr, from git), never a second
literal."""

import importlib.metadata

from packaging.version import Version

from vmdk_volume.driver import VMwareVcVmdkDriver


def test_the_driver_reports_the_package_version():
    package = Version(importlib.metadata.version('vmdk-volume'))
    assert VMwareVcVmdkDriver.VERSION == package.base_version
