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

// Disk locks. ESX locks the disk files a powered-on VM has open; vCenter then refuses to work
// on such a file through anything but that VM: a snapshot (create, remove, revert), clone,
// relocation that moves it, export, destroy or power-on of another VM using the file, a
// reconfigure of another VM that deletes or grows it or opens it (hot-add), and an extend,
// copy or delete of the file, fail with FileLocked, "Unable to access file <path> since it is
// locked". What goes through the VM holding the file works (its reconfigure, hot-extend,
// snapshots, clones). vcsim enforces none of it. A lock is held on each disk file a powered-on
// VM's devices name (a snapshot's copies of a disk, snapshots.go, are not its open files).
package main

import (
	"fmt"
	"reflect"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vmsUsing lists the VMs whose disks use file name ("[ds] path").
func vmsUsing(name string) []*simulator.VirtualMachine {
	var vms []*simulator.VirtualMachine
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm := e.(*simulator.VirtualMachine); diskByFile(vm, name) != nil {
			vms = append(vms, vm)
		}
	}
	return vms
}

// lockHolder returns a powered-on VM other than except that has file name open, or nil.
func lockHolder(name string, except *simulator.VirtualMachine) *simulator.VirtualMachine {
	for _, vm := range vmsUsing(name) {
		if vm != except && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			return vm
		}
	}
	return nil
}

// lockedDisk returns the first disk file of vm that another, powered-on, VM holds, or "".
func lockedDisk(vm *simulator.VirtualMachine) string {
	disks, _ := diskFiles(vm)
	for _, disk := range disks {
		name := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName
		if lockHolder(name, vm) != nil {
			return name
		}
	}
	return ""
}

// lockedChange returns the disk file that a device change of vm would open (vm powered on),
// delete or grow while another, powered-on, VM holds it, or "".
func lockedChange(vm *simulator.VirtualMachine, changes []types.BaseVirtualDeviceConfigSpec) string {
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if name := touchedFile(vm, spec); name != "" && lockHolder(name, vm) != nil {
			return name
		}
	}
	return ""
}

// touchedFile is the disk file that the device change spec of vm opens, deletes or grows.
func touchedFile(vm *simulator.VirtualMachine, spec *types.VirtualDeviceConfigSpec) string {
	disk, ok := spec.Device.(*types.VirtualDisk)
	if !ok {
		return ""
	}
	if spec.Operation == types.VirtualDeviceConfigSpecOperationAdd {
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if ok && spec.FileOperation == "" && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			return b.GetVirtualDeviceFileBackingInfo().FileName
		}
		return ""
	}
	old, ok := object.VirtualDeviceList(vm.Config.Hardware.Device).FindByKey(disk.Key).(*types.VirtualDisk)
	if !ok {
		return ""
	}
	deletes := spec.Operation == types.VirtualDeviceConfigSpecOperationRemove &&
		spec.FileOperation == types.VirtualDeviceConfigSpecFileOperationDestroy
	grows := spec.Operation == types.VirtualDeviceConfigSpecOperationEdit && diskBytes(disk) > diskBytes(old)
	if b, ok := old.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok && (deletes || grows) {
		return b.GetVirtualDeviceFileBackingInfo().FileName
	}
	return ""
}

// PowerOnVMTask refuses to power on a VM one of whose disks another powered-on VM holds.
func (p *vmProxy) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	req.This = p.target
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		vm := obj.(*simulator.VirtualMachine)
		if locked := lockedDisk(vm); locked != "" {
			return lockedTask(&methods.PowerOnVM_TaskBody{}, vm, "powerOn", locked)
		}
		return vm.PowerOnVMTask(ctx, req)
	})
}

// fileLocked is the fault vCenter answers with for the locked file name.
func fileLocked(name string) *types.FileLocked {
	return &types.FileLocked{FileFault: types.FileFault{File: name}}
}

// lockedMessage is vCenter's localized message for a FileLocked fault.
func lockedMessage(fault *types.FileLocked) string {
	return fmt.Sprintf("Unable to access file %s since it is locked", fault.File)
}

// localizeTaskError gives a task that failed with FileLocked vCenter's message (vcsim
// writes the fault's Go type there).
func localizeTaskError(task *simulator.Task) {
	if task.Info.Error == nil {
		return
	}
	fault, ok := task.Info.Error.Fault.(*types.FileLocked)
	if !ok {
		return
	}
	simulator.Map.WithLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{{Name: "info.error", Val: types.LocalizedMethodFault{
			Fault: fault, LocalizedMessage: lockedMessage(fault)}}})
	})
}

// lockedTask answers a *_Task call refused since file is locked: body is the method's empty
// response body (&methods.X_TaskBody{}), given a task of obj for method that fails with
// FileLocked.
func lockedTask(body soap.HasFault, obj mo.Reference, method, file string) soap.HasFault {
	res := reflect.ValueOf(body).Elem().FieldByName("Res")
	res.Set(reflect.New(res.Type().Elem()))
	res.Elem().FieldByName("Returnval").Set(reflect.ValueOf(failedTask(obj, method, fileLocked(file))))
	return body
}

// lockedFault is the SOAP fault of a call (not a task) refused since file name is locked.
func lockedFault(name string) *soap.Fault {
	fault := fileLocked(name)
	return simulator.Fault(lockedMessage(fault), fault)
}

// DeleteVirtualDiskTask refuses to delete a file a powered-on VM holds; vcsim's own deletes
// (of a VM's disks by its Destroy or a device removal, checked there) come without a user.
func (m *virtualDiskManager) DeleteVirtualDiskTask(ctx *simulator.Context, req *types.DeleteVirtualDisk_Task) soap.HasFault {
	if ctx == nil || ctx.Session == nil || ctx.Session.UserName == "" || lockHolder(req.Name, nil) == nil {
		return m.VirtualDiskManager.DeleteVirtualDiskTask(ctx, req)
	}
	return lockedTask(&methods.DeleteVirtualDisk_TaskBody{}, m, "deleteVirtualDisk", req.Name)
}
