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

// What belongs to a disk file rather than to the VM that uses it. On vCenter a disk's UUID and
// size are in the file: a VM that opens an existing file (a device added without a file
// operation) sees those another VM gave it, whatever its spec says, and an edit of them
// through one VM is seen by every VM using the file. vCenter gives every new disk a UUID and
// every new SCSI controller the unit number 7, and drops a removed disk's files from the VM's
// layoutEx. vcsim does none of this; here the other VMs using a file stand for the file.
package main

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// settleDeviceChanges gives the devices that changes add (to vm, nil for a new VM) what
// vCenter gives them: a SCSI controller unit 7, a new disk a UUID, a disk added from an
// existing file the UUID and size of that file.
func settleDeviceChanges(vm *simulator.VirtualMachine, changes []types.BaseVirtualDeviceConfigSpec) {
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation == types.VirtualDeviceConfigSpecOperationEdit && vm != nil {
			keepUuid(vm, spec.Device)
		}
		if spec.Operation != types.VirtualDeviceConfigSpecOperationAdd {
			continue
		}
		switch device := spec.Device.(type) {
		case types.BaseVirtualSCSIController:
			if c := device.GetVirtualSCSIController(); c.ScsiCtlrUnitNumber == 0 {
				c.ScsiCtlrUnitNumber = 7
			}
		case *types.VirtualDisk:
			b, ok := device.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if !ok {
				continue
			}
			if spec.FileOperation == "" && b.FileName != "" {
				adoptFile(vm, device, b)
			}
			if b.Uuid == "" {
				b.Uuid = uuid.New().String()
			}
		}
	}
}

// keepUuid gives an edited disk of vm whose backing names no UUID the one it has.
func keepUuid(vm *simulator.VirtualMachine, device types.BaseVirtualDevice) {
	edit, ok := device.(*types.VirtualDisk)
	if !ok {
		return
	}
	b, ok := edit.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	old, found := object.VirtualDeviceList(vm.Config.Hardware.Device).FindByKey(edit.Key).(*types.VirtualDisk)
	if !ok || !found || b.Uuid != "" {
		return
	}
	if ob, ok := old.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
		b.Uuid = ob.Uuid
	}
}

// adoptFile gives disk (with backing b) the UUID and size that another VM's disk using the
// same file has, if any VM other than vm uses it.
func adoptFile(vm *simulator.VirtualMachine, disk *types.VirtualDisk, b *types.VirtualDiskFlatVer2BackingInfo) {
	for _, other := range vmsUsing(b.FileName) {
		if other == vm {
			continue
		}
		theirs := diskByFile(other, b.FileName)
		disk.CapacityInKB, disk.CapacityInBytes = theirs.CapacityInKB, diskBytes(theirs)
		if tb, ok := theirs.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && tb.Uuid != "" {
			b.Uuid = tb.Uuid
		}
		return
	}
}

// sharedDisk is what an edit made of a disk file through VM by: its size and UUID.
type sharedDisk struct {
	by   *simulator.VirtualMachine
	name string
	kb   int64
	uuid string
}

// editedDisks lists the disk files that changes edited on vm, as they now are.
func editedDisks(vm *simulator.VirtualMachine, changes []types.BaseVirtualDeviceConfigSpec) []sharedDisk {
	var edited []sharedDisk
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation != types.VirtualDeviceConfigSpecOperationEdit {
			continue
		}
		disk, ok := devices.FindByKey(spec.Device.GetVirtualDevice().Key).(*types.VirtualDisk)
		if !ok {
			continue
		}
		if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			edited = append(edited, sharedDisk{by: vm, name: b.FileName, kb: disk.CapacityInKB, uuid: b.Uuid})
		}
	}
	return edited
}

// shareDisks shows each edited file's size and UUID to the other VMs using it. The caller
// holds no VM's lock.
func shareDisks(edited []sharedDisk) {
	for _, e := range edited {
		for _, vm := range vmsUsing(e.name) {
			if vm != e.by {
				setDisk(vm, e.name, e.kb, e.uuid)
			}
		}
	}
}

// setDisk gives vm's disk using file name the capacity kb and, unless "", the UUID uuid.
func setDisk(vm *simulator.VirtualMachine, name string, kb int64, uuid string) {
	simulator.Map.WithLock(vm, func() {
		devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
		disk := diskByFile(vm, name)
		if disk == nil {
			return
		}
		disk.CapacityInKB, disk.CapacityInBytes = kb, kb*1024
		disk.DeviceInfo = &types.Description{Label: devices.Name(disk), Summary: fmt.Sprintf("%d KB", kb)}
		if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && uuid != "" {
			b.Uuid = uuid
		}
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "config.hardware.device", Val: []types.BaseVirtualDevice(devices)},
		})
	})
}

// removedDiskFiles names the files of vm's disks that changes remove.
func removedDiskFiles(vm *simulator.VirtualMachine, changes []types.BaseVirtualDeviceConfigSpec) map[string]bool {
	names := map[string]bool{}
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation != types.VirtualDeviceConfigSpecOperationRemove {
			continue
		}
		if disk, ok := devices.FindByKey(spec.Device.GetVirtualDevice().Key).(*types.VirtualDisk); ok {
			if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				names[b.GetVirtualDeviceFileBackingInfo().FileName] = true
			}
		}
	}
	return names
}

// giveInventoryDisksUuids gives a UUID to every disk of the inventory's VMs lacking one.
func giveInventoryDisksUuids() {
	for _, e := range simulator.Map.All("VirtualMachine") {
		for _, d := range e.(*simulator.VirtualMachine).Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.Uuid == "" {
					b.Uuid = uuid.New().String()
				}
			}
		}
	}
}

func taskOf(ref types.ManagedObjectReference) *simulator.Task {
	return simulator.Map.Get(ref).(*simulator.Task)
}
