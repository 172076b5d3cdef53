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

// Virtual machine creation, cloning and reconfiguration fixes (proxied, see proxy.go):
//   - vcsim keeps whichever of a disk's capacityInKB / capacityInBytes the client sent (the other
//     stays 0); vCenter reports both, so CreateVM_Task, ReconfigVM_Task and ImportVApp make them
//     agree (an edit takes the one that changed);
//   - vcsim's CloneVM_Task rewires the source's disks to the clone's files and copies no data,
//     and gives the clone the spec's extraConfig instead of the source's with the spec's applied;
//   - vcsim's ReconfigVM_Task appends extraConfig options instead of replacing them;
//   - vcsim leaves a new SCSI controller's scsiCtlrUnitNumber 0 (vCenter: 7);
//   - vcsim's ReconfigVM_Task panics on a device edit without deviceInfo (a client that builds a
//     fresh VirtualDisk to grow it), and lets a disk shrink, which vCenter refuses;
//   - the disk rules of locks.go (FileLocked) and disk_files.go (a disk's UUID and size are its
//     file's) apply to CreateVM_Task, ReconfigVM_Task and CloneVM_Task.
package main

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type vmProxy struct{ proxy }

type folderProxy struct{ proxy }

func (p *folderProxy) CreateVMTask(ctx *simulator.Context, req *types.CreateVM_Task) soap.HasFault {
	namingMu.Lock()
	defer namingMu.Unlock()
	req.This = p.target
	_ = normalizeDisks(req.Config.DeviceChange, nil)
	settleDeviceChanges(nil, req.Config.DeviceChange)
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		refuse := func(fault types.BaseMethodFault) soap.HasFault {
			return &methods.CreateVM_TaskBody{Res: &types.CreateVM_TaskResponse{
				Returnval: failedTask(obj, "createVm", fault)}}
		}
		return uniquelyNamed(&p.target, req.Config.Name, refuse, func() soap.HasFault {
			res := obj.(*simulator.Folder).CreateVMTask(ctx, req)
			task := simulator.Map.Get(res.(*methods.CreateVM_TaskBody).Res.Returnval).(*simulator.Task)
			if vm, ok := task.Info.Result.(types.ManagedObjectReference); ok {
				recordProfiles(vm, req.Config.VmProfile, nil)
				recordDeviceProfiles(vm, req.Config.DeviceChange)
			}
			return res
		})
	})
}

func (p *vmProxy) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	req.This = p.target
	var shared []sharedDisk
	res := p.with(ctx, func(obj mo.Reference) soap.HasFault {
		vm := obj.(*simulator.VirtualMachine)
		fault := normalizeDisks(req.Spec.DeviceChange, vm.Config.Hardware.Device)
		if locked := lockedChange(vm, req.Spec.DeviceChange); fault == nil && locked != "" {
			fault = fileLocked(locked)
		}
		if fault != nil {
			return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{
				Returnval: failedTask(vm, "reconfigVm", fault)}}
		}
		settleDeviceChanges(vm, req.Spec.DeviceChange)
		removed := removedDiskFiles(vm, req.Spec.DeviceChange)
		mergeExtraConfig(vm, &req.Spec)
		recordProfiles(vm.Self, req.Spec.VmProfile, nil)
		recordDeviceProfiles(vm.Self, req.Spec.DeviceChange)
		res := vm.ReconfigVMTask(ctx, req)
		if taskOf(res.(*methods.ReconfigVM_TaskBody).Res.Returnval).Info.State == types.TaskInfoStateSuccess {
			unlistFiles(vm, removed)
			shared = editedDisks(vm, req.Spec.DeviceChange)
		}
		return res
	})
	shareDisks(shared)
	return res
}

// mergeExtraConfig makes a reconfigure replace the extraConfig keys it sets, and remove those
// it sets to "", as vCenter does (vcsim appends every option it is sent).
func mergeExtraConfig(vm *simulator.VirtualMachine, spec *types.VirtualMachineConfigSpec) {
	if len(spec.ExtraConfig) == 0 {
		return
	}
	current := withoutKeys(vm.Config.ExtraConfig, spec.ExtraConfig)
	vm.Config.ExtraConfig = current
	spec.ExtraConfig = withoutKeys(spec.ExtraConfig, nil)
	simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.extraConfig", Val: current}})
}

// appliedExtraConfig is current with a config spec's extraConfig changes applied as vCenter
// applies them: a key the changes set replaces the current one, a key set to "" is removed.
func appliedExtraConfig(current, changes []types.BaseOptionValue) []types.BaseOptionValue {
	return append(withoutKeys(current, changes), withoutKeys(changes, nil)...)
}

// withoutKeys is options less those whose key is set in changes and those set to "".
func withoutKeys(options, changes []types.BaseOptionValue) []types.BaseOptionValue {
	set := map[string]bool{}
	for _, o := range changes {
		set[o.GetOptionValue().Key] = true
	}
	var kept []types.BaseOptionValue
	for _, o := range options {
		v, ok := o.GetOptionValue().Value.(string)
		if !set[o.GetOptionValue().Key] && (!ok || v != "") {
			kept = append(kept, o)
		}
	}
	return kept
}

// normalizeDisks makes the two capacities of each disk in a device change agree, gives edited
// devices the deviceInfo vcsim expects, and refuses to shrink a disk (current: the VM's devices).
func normalizeDisks(changes []types.BaseVirtualDeviceConfigSpec, current object.VirtualDeviceList) types.BaseMethodFault {
	for i, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok || spec.Operation == types.VirtualDeviceConfigSpecOperationRemove {
			continue
		}
		var old *types.VirtualDisk
		if spec.Operation == types.VirtualDeviceConfigSpecOperationEdit {
			old, _ = current.FindByKey(disk.Key).(*types.VirtualDisk)
			if disk.DeviceInfo == nil {
				disk.DeviceInfo = &types.Description{}
			}
		}
		if disk.CapacityInBytes > 0 && (old == nil || disk.CapacityInBytes != diskBytes(old)) {
			disk.CapacityInKB = disk.CapacityInBytes / 1024
		} else {
			disk.CapacityInBytes = disk.CapacityInKB * 1024
		}
		if old != nil && diskBytes(disk) < diskBytes(old) {
			return &types.InvalidDeviceSpec{InvalidVmConfig: types.InvalidVmConfig{Property: "capacityInKB"}, DeviceIndex: int32(i)}
		}
	}
	return nil
}

// CloneVMTask runs vcsim's CloneVM_Task on copies of the source's disks: vcsim clears the
// backing fileName of the disk objects it clones, which are the source's own, so the source
// would end up pointing at the clone's file; the copies also take the provisioning and UUID
// of the spec's disk locators, which vcsim ignores. Then it copies the source's disk files (vcsim
// creates the clone's empty), so a clone of an imported image holds the image's bytes; a
// clone at a snapshot (spec.snapshot) copies the snapshot's copies instead (snapshots.go).
// Each of the clone's disks gets the data of the source's disk of the same key (a disk the
// spec's config removes is not cloned, as vCenter leaves it out).
func (p *vmProxy) CloneVMTask(ctx *simulator.Context, req *types.CloneVM_Task) soap.HasFault {
	namingMu.Lock()
	defer namingMu.Unlock()
	req.This = p.target
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		refuse := func(fault types.BaseMethodFault) soap.HasFault {
			return &methods.CloneVM_TaskBody{Res: &types.CloneVM_TaskResponse{
				Returnval: failedTask(obj, "cloneVm", fault)}}
		}
		if locked := lockedDisk(obj.(*simulator.VirtualMachine)); locked != "" {
			return lockedTask(&methods.CloneVM_TaskBody{}, obj, "cloneVm", locked)
		}
		return uniquelyNamed(&req.Folder, req.Name, refuse, func() soap.HasFault {
			return cloneWithDisks(ctx, obj.(*simulator.VirtualMachine), req)
		})
	})
}

func cloneWithDisks(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.CloneVM_Task) soap.HasFault {
	disks, sources := diskFiles(vm)
	sources = snapshotSources(vm, req.Spec.Snapshot, disks, sources)
	devices := vm.Config.Hardware.Device
	copies := make([]types.BaseVirtualDevice, len(devices))
	for i, d := range devices {
		copies[i] = d
		if disk, ok := d.(*types.VirtualDisk); ok {
			diskCopy := *disk
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				backing := *b
				applyDiskLocator(&backing, disk.Key, req.Spec.Location.Disk)
				diskCopy.Backing = &backing
			}
			growClonedDisk(&diskCopy, req.Spec.Config)
			copies[i] = &diskCopy
		}
	}
	vm.Config.Hardware.Device = copies
	if req.Spec.Config != nil { // applied to the copies above; vcsim's own edit would panic
		req.Spec.Config.DeviceChange = withoutDiskEdits(req.Spec.Config.DeviceChange)
	}
	res := vm.CloneVMTask(ctx, req)
	vm.Config.Hardware.Device = devices

	task := simulator.Map.Get(res.(*methods.CloneVM_TaskBody).Res.Returnval).(*simulator.Task)
	if clone, ok := task.Info.Result.(types.ManagedObjectReference); ok {
		recordProfiles(clone, req.Spec.Location.Profile, req.Spec.Location.Disk)
		cloned := simulator.Map.Get(clone).(*simulator.VirtualMachine)
		copyExtraConfig(vm, cloned, req.Spec.Config)
		source := make(map[int32]string)
		for i, disk := range disks {
			source[disk.Key] = sources[i]
		}
		clonedDisks, targets := diskFiles(cloned)
		for i, disk := range clonedDisks { // by key: the spec may have left disks out
			if from, ok := source[disk.Key]; ok {
				if err := copyFile(from, targets[i]); err != nil {
					log.Printf("clone %s: copying %s: %v", vm.Name, from, err)
				}
			}
		}
	}
	return res
}

// copyExtraConfig gives a clone the source's extraConfig with the clone spec's config applied
// on top, as vCenter does (vcsim gives it the spec's options only, empty values included). A
// clone at a snapshot gets the source's current extraConfig: the kit keeps none per snapshot.
func copyExtraConfig(source, clone *simulator.VirtualMachine, config *types.VirtualMachineConfigSpec) {
	var changes []types.BaseOptionValue
	if config != nil {
		changes = config.ExtraConfig
	}
	clone.Config.ExtraConfig = appliedExtraConfig(source.Config.ExtraConfig, changes)
	simulator.Map.Update(clone, []types.PropertyChange{{Name: "config.extraConfig", Val: clone.Config.ExtraConfig}})
}

// applyDiskLocator gives a cloned disk what the relocate spec's disk locator asks for
// (provisioning and UUID), which vcsim ignores.
func applyDiskLocator(b *types.VirtualDiskFlatVer2BackingInfo, key int32, locators []types.VirtualMachineRelocateSpecDiskLocator) {
	for _, l := range locators {
		want, ok := l.DiskBackingInfo.(*types.VirtualDiskFlatVer2BackingInfo)
		if l.DiskId != key || !ok {
			continue
		}
		b.ThinProvisioned, b.EagerlyScrub = want.ThinProvisioned, want.EagerlyScrub
		if want.Uuid != "" {
			b.Uuid = want.Uuid
		}
	}
}

// growClonedDisk applies a larger capacity that the clone spec's config edits onto the
// disk (vCenter grows a disk while cloning; vcsim ignores the config's device changes).
func growClonedDisk(disk *types.VirtualDisk, config *types.VirtualMachineConfigSpec) {
	if config == nil {
		return
	}
	for _, change := range config.DeviceChange {
		spec := change.GetVirtualDeviceConfigSpec()
		edit, ok := spec.Device.(*types.VirtualDisk)
		if !ok || spec.Operation != types.VirtualDeviceConfigSpecOperationEdit || edit.Key != disk.Key {
			continue
		}
		if want := edit.CapacityInKB * 1024; want > diskBytes(disk) {
			label := ""
			if disk.DeviceInfo != nil {
				label = disk.DeviceInfo.GetDescription().Label
			}
			disk.CapacityInKB, disk.CapacityInBytes = edit.CapacityInKB, want
			disk.DeviceInfo = &types.Description{Label: label, Summary: fmt.Sprintf("%d KB", edit.CapacityInKB)}
		}
	}
}

func withoutDiskEdits(changes []types.BaseVirtualDeviceConfigSpec) []types.BaseVirtualDeviceConfigSpec {
	var kept []types.BaseVirtualDeviceConfigSpec
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if _, disk := spec.Device.(*types.VirtualDisk); disk && spec.Operation == types.VirtualDeviceConfigSpecOperationEdit {
			continue
		}
		kept = append(kept, change)
	}
	return kept
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
