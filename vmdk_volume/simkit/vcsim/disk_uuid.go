//    Licensed under the Apache License, Version 2.0 (the "License"); you may
//    not use this file except in compliance with the License. You may obtain
//    a copy of the License at
//
//         http://www.apache.org/licenses/LICENSE-2.0
//
//    Unless required by applicable law or agreed to in writing, software
//    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
//    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
//    License for the specific language governing permissions and limitations
//    under the License.

// A disk's UUID belongs to the disk (vSphere keeps it in the disk's descriptor), so a VM that
// an existing disk file is added to (ReconfigVM_Task, a device add without file operation,
// as Nova attaches a volume) reports the UUID that disk has; vcsim leaves it empty. The kit
// keeps no descriptor: the UUID is the one another VM's device of that file reports.
package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// giveExistingDisksTheirUUID sets, on each disk added from an existing file by changes, the
// UUID that file's disk has in another VM, if one has it and the change gives none.
func giveExistingDisksTheirUUID(ctx *simulator.Context, changes []types.BaseVirtualDeviceConfigSpec) {
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok || spec.Operation != types.VirtualDeviceConfigSpecOperationAdd || spec.FileOperation != "" {
			continue
		}
		backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if ok && backing.Uuid == "" && backing.FileName != "" {
			backing.Uuid = diskUUID(ctx, backing.FileName)
		}
	}
}

// diskUUID is the UUID a VM's disk of file reports, or "".
func diskUUID(ctx *simulator.Context, file string) string {
	for _, e := range ctx.Map.All("VirtualMachine") {
		if disk := diskByFile(e.(*simulator.VirtualMachine), file); disk != nil {
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.Uuid != "" {
				return b.Uuid
			}
		}
	}
	return ""
}
