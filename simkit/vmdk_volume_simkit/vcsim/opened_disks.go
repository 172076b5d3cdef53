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

// A disk's uuid and size belong to its file (the VMDK descriptor holds them): a VM that opens
// an existing file (ReconfigVM_Task adding a disk without fileOperation, as Nova attaches a
// volume) sees the uuid and size the VM that made or last grew it gave it. vcsim 0.24.2
// gives such a disk no uuid and the size the client sent (Nova sends none), and a new disk
// no uuid unless the client sent one.
package main

import (
	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// diskFileIdentities gives each disk that changes add a new file for a uuid if the client
// sent none (vCenter always gives one), and each disk they add from an existing file the uuid
// and size another VM of the inventory (not vm, if given) sees for that file.
func diskFileIdentities(vm types.ManagedObjectReference, changes []types.BaseVirtualDeviceConfigSpec) {
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok || spec.Operation != types.VirtualDeviceConfigSpecOperationAdd {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			continue
		}
		if spec.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate {
			if b.Uuid == "" {
				b.Uuid = uuid.New().String()
			}
			continue
		}
		if spec.FileOperation != "" || b.FileName == "" {
			continue
		}
		if known := diskOfFile(vm, b.FileName); known != nil {
			if kb, ok := known.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				b.Uuid = kb.Uuid
			}
			disk.CapacityInKB, disk.CapacityInBytes = known.CapacityInKB, diskBytes(known)
		}
	}
}

// diskOfFile is the disk another VM than except has open on file, or nil.
func diskOfFile(except types.ManagedObjectReference, file string) *types.VirtualDisk {
	for _, e := range simulator.Map.All("VirtualMachine") {
		other := e.(*simulator.VirtualMachine)
		if other.Self == except || other.Config == nil {
			continue
		}
		for _, d := range other.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.FileName == file {
				return disk
			}
		}
	}
	return nil
}
