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

// Point-in-time VM snapshots (proxied, see proxy.go). vcsim's CreateSnapshot_Task keeps a
// copy of the VM's configuration only, its RevertToSnapshot_Task only moves currentSnapshot,
// and its CloneVM_Task ignores spec.snapshot, so a snapshot froze no data. vCenter freezes
// each disk's content when the snapshot is taken (the disk gets a delta child); a revert makes
// the disks' content the snapshot's again, a clone at a snapshot copies the content as of the
// snapshot, and removing a snapshot consolidates it (the current content stays). The kit
// approximates this: CreateSnapshot copies each disk (descriptor and -flat extent) to a file
// the snapshot owns, named like vCenter's delta files (<disk>-000001.vmdk) and listed in the
// VM's layoutEx; RevertToSnapshot copies it back onto the disk; a clone at the snapshot is made
// from it (vm.go); RemoveSnapshot (of the snapshot, and of its children if asked) and Destroy
// delete the copies; RelocateVM moves them with their disk (relocate.go).
package main

import (
	"fmt"
	"log"
	"os"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type snapshotProxy struct{ proxy }

// frozenDisk is a snapshot's copy of one of its VM's disks, as the disk was at the snapshot.
type frozenDisk struct {
	key  int32  // the disk's device key
	disk string // datastore path of the disk
	copy string // datastore path of the snapshot's copy
}

// frozen holds the copies of every snapshot, by snapshot, and the VM each snapshot is of.
var frozen = struct {
	sync.Mutex
	disks map[types.ManagedObjectReference][]frozenDisk
	vm    map[types.ManagedObjectReference]types.ManagedObjectReference
}{disks: map[types.ManagedObjectReference][]frozenDisk{},
	vm: map[types.ManagedObjectReference]types.ManagedObjectReference{}}

func (p *vmProxy) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	req.This = p.target
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		vm := obj.(*simulator.VirtualMachine)
		if locked := lockedDisk(vm); locked != "" {
			return lockedTask(&methods.CreateSnapshot_TaskBody{}, vm, "createSnapshot", locked)
		}
		res := vm.CreateSnapshotTask(req)
		task := simulator.Map.Get(res.(*methods.CreateSnapshot_TaskBody).Res.Returnval).(*simulator.Task)
		if snapshot, ok := task.Info.Result.(types.ManagedObjectReference); ok {
			freeze(vm, snapshot)
		}
		return res
	})
}

// freeze copies each disk of vm to a file that snapshot owns, and lists it in vm's layout.
func freeze(vm *simulator.VirtualMachine, snapshot types.ManagedObjectReference) {
	var disks []frozenDisk
	found, sources := diskFiles(vm)
	for i, disk := range found {
		name := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName
		copyName, dst := freeCopyName(name, sources[i])
		if err := copyDisk(sources[i], dst); err != nil {
			log.Printf("snapshot of %s: copying %s: %v", vm.Name, name, err)
			continue
		}
		disks = append(disks, frozenDisk{key: disk.Key, disk: name, copy: copyName})
	}
	frozen.Lock()
	frozen.disks[snapshot], frozen.vm[snapshot] = disks, vm.Self
	frozen.Unlock()
	listCopies(vm)
}

// freeCopyName is the first <disk>-00000N.vmdk next to the disk (datastore path name, local
// file src) that does not exist: its datastore path and local file.
func freeCopyName(name, src string) (string, string) {
	for n := 1; ; n++ {
		suffix := fmt.Sprintf("-%06d.vmdk", n)
		dst := strings.TrimSuffix(src, ".vmdk") + suffix
		if _, err := os.Stat(dst); os.IsNotExist(err) {
			return strings.TrimSuffix(name, ".vmdk") + suffix, dst
		}
	}
}

// copyDisk copies a disk's descriptor and its -flat extent, or removes dst's extent if src
// has none.
func copyDisk(src, dst string) error {
	if _, err := os.Stat(flatName(src)); err == nil {
		if err := copyFile(flatName(src), flatName(dst)); err != nil {
			return err
		}
	} else {
		_ = os.Remove(flatName(dst))
	}
	return copyFile(src, dst)
}

// removeDisk removes a disk's descriptor and its -flat extent, if any.
func removeDisk(file string) {
	_ = os.Remove(flatName(file))
	_ = os.Remove(file)
}

// copiesOf lists the copies of every snapshot of vm.
func copiesOf(vm types.ManagedObjectReference) []frozenDisk {
	frozen.Lock()
	defer frozen.Unlock()
	var all []frozenDisk
	for snapshot, disks := range frozen.disks {
		if frozen.vm[snapshot] == vm {
			all = append(all, disks...)
		}
	}
	return all
}

// listCopies adds the files of vm's snapshot copies to its layout where missing (vcsim
// rebuilds the layout when a snapshot is removed, without them).
func listCopies(vm *simulator.VirtualMachine) {
	dc := datacenterOf(vm)
	for _, c := range copiesOf(vm.Self) {
		local, fault := localPath(&dc, c.copy)
		if fault != nil {
			continue
		}
		addLayoutFile(vm, c.copy, local, types.VirtualMachineFileLayoutExFileTypeDiskDescriptor)
		if _, err := os.Stat(flatName(local)); err == nil {
			addLayoutFile(vm, flatName(c.copy), flatName(local), types.VirtualMachineFileLayoutExFileTypeDiskExtent)
		}
	}
}

func addLayoutFile(vm *simulator.VirtualMachine, name, local string, kind types.VirtualMachineFileLayoutExFileType) {
	var key int32
	for _, f := range vm.LayoutEx.File {
		if f.Name == name {
			return
		}
		if f.Key >= key {
			key = f.Key + 1
		}
	}
	var size int64
	if info, err := os.Stat(local); err == nil {
		size = info.Size()
	}
	vm.LayoutEx.File = append(vm.LayoutEx.File, types.VirtualMachineFileLayoutExFileInfo{
		Key: key, Name: name, Type: string(kind), Size: size, Accessible: types.NewBool(true)})
}

// unlistFiles removes the layout entries naming the files of the disks names.
func unlistFiles(vm *simulator.VirtualMachine, names map[string]bool) {
	var kept []types.VirtualMachineFileLayoutExFileInfo
	for _, f := range vm.LayoutEx.File {
		if !names[f.Name] && !names[strings.TrimSuffix(f.Name, "-flat.vmdk")+".vmdk"] {
			kept = append(kept, f)
		}
	}
	vm.LayoutEx.File = kept
}

func (p *snapshotProxy) RevertToSnapshotTask(ctx *simulator.Context, req *types.RevertToSnapshot_Task) soap.HasFault {
	req.This = p.target
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		snapshot := obj.(*simulator.VirtualMachineSnapshot)
		if locked := lockedDisk(simulator.Map.Get(snapshot.Vm).(*simulator.VirtualMachine)); locked != "" {
			return lockedTask(&methods.RevertToSnapshot_TaskBody{}, snapshot, "revertToSnapshot", locked)
		}
		res := snapshot.RevertToSnapshotTask(req)
		task := simulator.Map.Get(res.(*methods.RevertToSnapshot_TaskBody).Res.Returnval).(*simulator.Task)
		if task.Info.State == types.TaskInfoStateSuccess {
			vm := simulator.Map.Get(snapshot.Vm).(*simulator.VirtualMachine)
			simulator.Map.WithLock(vm, func() { thaw(vm, snapshot.Self) })
		}
		return res
	})
}

// thaw copies snapshot's copies back onto vm's disks that have the same device keys.
func thaw(vm *simulator.VirtualMachine, snapshot types.ManagedObjectReference) {
	frozen.Lock()
	disks := frozen.disks[snapshot]
	frozen.Unlock()
	dc := datacenterOf(vm)
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	for _, c := range disks {
		disk, ok := devices.FindByKey(c.key).(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			continue
		}
		src, fault := localPath(&dc, c.copy)
		dst, fault2 := localPath(&dc, b.FileName)
		if fault != nil || fault2 != nil {
			continue
		}
		if err := copyDisk(src, dst); err != nil {
			log.Printf("revert of %s: copying %s: %v", vm.Name, c.copy, err)
		}
	}
}

func (p *snapshotProxy) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	req.This = p.target
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		snapshot := obj.(*simulator.VirtualMachineSnapshot)
		vm := simulator.Map.Get(snapshot.Vm).(*simulator.VirtualMachine)
		if locked := lockedDisk(vm); locked != "" {
			return lockedTask(&methods.RemoveSnapshot_TaskBody{}, snapshot, "removeSnapshot", locked)
		}
		removed := []types.ManagedObjectReference{snapshot.Self}
		if req.RemoveChildren {
			removed = append(removed, descendants(snapshot)...)
		}
		simulator.Map.WithLock(vm, func() { drop(vm, removed) })
		res := snapshot.RemoveSnapshotTask(ctx, req)
		simulator.Map.WithLock(vm, func() { listCopies(vm) })
		return res
	})
}

// descendants lists the snapshots taken after snapshot from it, at any depth.
func descendants(snapshot *simulator.VirtualMachineSnapshot) []types.ManagedObjectReference {
	var all []types.ManagedObjectReference
	for _, child := range snapshot.ChildSnapshot {
		all = append(all, child)
		if c, ok := simulator.Map.Get(child).(*simulator.VirtualMachineSnapshot); ok {
			all = append(all, descendants(c)...)
		}
	}
	return all
}

// drop deletes the copies of snapshots and their entries in vm's layout.
func drop(vm *simulator.VirtualMachine, snapshots []types.ManagedObjectReference) {
	dc := datacenterOf(vm)
	names := map[string]bool{}
	frozen.Lock()
	for _, s := range snapshots {
		for _, c := range frozen.disks[s] {
			if local, fault := localPath(&dc, c.copy); fault == nil {
				removeDisk(local)
			}
			names[c.copy] = true
		}
		delete(frozen.disks, s)
		delete(frozen.vm, s)
	}
	frozen.Unlock()
	unlistFiles(vm, names)
}

// DestroyTask destroys the VM with vcsim and then the copies of its snapshots, unless another
// VM holds one of its disks (locks.go), and takes it out of the resource pool that listed it
// (vcsim leaves a template there).
func (p *vmProxy) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	req.This = p.target
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		vm := obj.(*simulator.VirtualMachine)
		if locked := lockedDisk(vm); locked != "" {
			return lockedTask(&methods.Destroy_TaskBody{}, vm, "destroy", locked)
		}
		res := vm.DestroyTask(ctx, req)
		task := simulator.Map.Get(res.(*methods.Destroy_TaskBody).Res.Returnval).(*simulator.Task)
		if task.Info.State == types.TaskInfoStateSuccess {
			drop(vm, snapshotsOf(vm.Self))
			leavePools(vm.Self)
		}
		return res
	})
}

func snapshotsOf(vm types.ManagedObjectReference) []types.ManagedObjectReference {
	frozen.Lock()
	defer frozen.Unlock()
	var refs []types.ManagedObjectReference
	for snapshot, owner := range frozen.vm {
		if owner == vm {
			refs = append(refs, snapshot)
		}
	}
	return refs
}

// snapshotSources replaces, in a clone's source files (one per disk of vm, in order), those
// of the disks that snapshot has a copy of by the copy.
func snapshotSources(vm *simulator.VirtualMachine, snapshot *types.ManagedObjectReference,
	disks []*types.VirtualDisk, sources []string) []string {
	if snapshot == nil {
		return sources
	}
	frozen.Lock()
	copies := frozen.disks[*snapshot]
	frozen.Unlock()
	dc := datacenterOf(vm)
	out := append([]string{}, sources...)
	for i, disk := range disks {
		for _, c := range copies {
			if local, fault := localPath(&dc, c.copy); fault == nil && c.key == disk.Key {
				out[i] = local
			}
		}
	}
	return out
}

// moveCopies moves the snapshot copies of vm's disk from (a datastore path) to datastore
// target, as vCenter moves a disk's whole chain, and renames them in vm's layout.
func moveCopies(vm *simulator.VirtualMachine, from, to string, target *simulator.Datastore) {
	dc := datacenterOf(vm)
	names := map[string]bool{}
	frozen.Lock()
	for snapshot, disks := range frozen.disks {
		if frozen.vm[snapshot] != vm.Self {
			continue
		}
		for i, c := range disks {
			if !sameDatastorePath(c.disk, from) {
				continue
			}
			var p object.DatastorePath
			src, fault := localPath(&dc, c.copy)
			if fault != nil || !p.FromString(c.copy) {
				continue
			}
			dst := target.Info.GetDatastoreInfo().Url + "/" + p.Path
			if err := moveDisk(src, dst); err != nil {
				log.Printf("relocate of %s: moving %s: %v", vm.Name, c.copy, err)
				continue
			}
			names[c.copy] = true
			p.Datastore = target.Name
			disks[i].disk, disks[i].copy = to, p.String()
		}
	}
	frozen.Unlock()
	unlistFiles(vm, names)
	listCopies(vm)
}
