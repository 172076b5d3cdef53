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

// VirtualMachine.RelocateVM_Task that moves files, which vcsim's does not (it only rewrites the
// VM's datastore list). Disks (descriptor and -flat extent) move to their disk locator's
// datastore, else to the spec's datastore; a disk that moves takes its locator's provisioning (thin, eagerly scrubbed) and
// UUID, as vCenter converts a disk while copying it; a disk that stays keeps its format (the
// driver never relies on an in-place conversion). The VM's home directory (its files other
// than disks) follows the spec's datastore. A disk that moves must exist (FileNotFound, checked before the target) and not be held by another, powered-on, VM (FileLocked, locks.go). Snapshots' copies of the configuration are rewritten to the moved files, so a
// revert finds them, and their copies of the disks' content (snapshots.go) move with the disks. A target file that exists already fails the task (FileAlreadyExists),
// having moved nothing. Storage-policy ids of the spec and locators are recorded (pbm.go).
package main

import (
	"os"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// diskMove is one disk file going to another datastore.
type diskMove struct {
	disk     *types.VirtualDisk
	backing  *types.VirtualDiskFlatVer2BackingInfo
	from, to string // datastore paths
	target   *simulator.Datastore
	locator  *types.VirtualMachineRelocateSpecDiskLocator
	src, dst string // local files
}

func (p *vmProxy) RelocateVMTask(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	req.This = p.target
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		vm := obj.(*simulator.VirtualMachine)
		moves, fault := planMoves(vm, req.Spec)
		if fault == nil {
			fault = applyMoves(vm, moves, req.Spec)
		}
		if fault != nil {
			task := simulator.CreateTask(vm, "relocateVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, fault
			})
			return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: task.Run()}}
		}
		recordProfiles(vm.Self, req.Spec.Profile, req.Spec.Disk)
		home := req.Spec.Datastore
		req.Spec.Datastore = nil // vcsim's own relocate would reset the datastore list
		res := vm.RelocateVMTask(ctx, req)
		req.Spec.Datastore = home
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "datastore", Val: vmDatastores(vm)}})
		return res
	})
}

// planMoves lists the disks whose datastore changes, checking that every move can be made.
func planMoves(vm *simulator.VirtualMachine, spec types.VirtualMachineRelocateSpec) ([]diskMove, types.BaseMethodFault) {
	var moves []diskMove
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			continue
		}
		dest, locator := spec.Datastore, diskLocator(spec.Disk, disk.Key)
		if locator != nil {
			dest = &locator.Datastore
		}
		if dest == nil || backing.Datastore != nil && *backing.Datastore == *dest {
			continue
		}
		target, ok := simulator.Map.Get(*dest).(*simulator.Datastore)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: *dest}
		}
		var from object.DatastorePath
		if !from.FromString(backing.FileName) {
			return nil, &types.InvalidDatastorePath{DatastorePath: backing.FileName}
		}
		to := object.DatastorePath{Datastore: target.Name, Path: from.Path}
		dc := datacenterOf(vm)
		src, fault := localPath(&dc, backing.FileName)
		if fault != nil {
			return nil, fault
		}
		if lockHolder(backing.FileName, vm) != nil {
			return nil, fileLocked(backing.FileName)
		}
		if _, err := os.Stat(src); err != nil {
			return nil, &types.FileNotFound{FileFault: types.FileFault{File: backing.FileName}}
		}
		dst := path.Join(target.Info.GetDatastoreInfo().Url, to.Path)
		if _, err := os.Stat(dst); err == nil {
			return nil, &types.FileAlreadyExists{FileFault: types.FileFault{File: to.String()}}
		}
		moves = append(moves, diskMove{disk: disk, backing: backing, from: backing.FileName,
			to: to.String(), target: target, locator: locator, src: src, dst: dst})
	}
	return moves, nil
}

// applyMoves moves the planned disk files and the VM's home, and points the VM (and its
// snapshots) at them.
func applyMoves(vm *simulator.VirtualMachine, moves []diskMove, spec types.VirtualMachineRelocateSpec) types.BaseMethodFault {
	moved := layoutMoves{}
	for _, m := range moves {
		if err := moveDisk(m.src, m.dst); err != nil {
			return &types.FileFault{File: m.to}
		}
		moved.disk(m.from, m.target.Name)
		ref := m.target.Self
		m.backing.FileName, m.backing.Datastore = m.to, &ref
		if m.locator != nil {
			applyDiskLocator(m.backing, m.disk.Key, []types.VirtualMachineRelocateSpecDiskLocator{*m.locator})
		}
		renameInSnapshots(vm, m.from, m.to, ref)
		moveCopies(vm, m.from, m.to, m.target)
	}
	changes := []types.PropertyChange{{Name: "config.hardware.device", Val: vm.Config.Hardware.Device}}
	if spec.Datastore != nil {
		if ds, ok := simulator.Map.Get(*spec.Datastore).(*simulator.Datastore); ok {
			if from := homeDatastore(vm); from != "" && from != ds.Name {
				moved.home = [2]string{from, ds.Name}
			}
			changes = append(changes, moveHome(vm, ds)...)
		}
	}
	moved.apply(vm)
	simulator.Map.Update(vm, changes)
	return nil
}

// moveHome points the VM's configuration file at datastore ds, moving the home directory's
// files other than disks (those moved with their locators, or stay).
func moveHome(vm *simulator.VirtualMachine, ds *simulator.Datastore) []types.PropertyChange {
	var vmx object.DatastorePath
	if !vmx.FromString(vm.Config.Files.VmPathName) || vmx.Datastore == ds.Name {
		return nil
	}
	dc := datacenterOf(vm)
	if src, fault := localPath(&dc, vm.Config.Files.VmPathName); fault == nil && vmx.Path != "" {
		dst := path.Dir(path.Join(ds.Info.GetDatastoreInfo().Url, vmx.Path))
		entries, _ := os.ReadDir(path.Dir(src))
		for _, e := range entries {
			if !e.IsDir() && path.Ext(e.Name()) != ".vmdk" {
				_ = moveFile(path.Join(path.Dir(src), e.Name()), path.Join(dst, e.Name()))
			}
		}
	}
	vmx.Datastore = ds.Name
	return []types.PropertyChange{
		{Name: "config.files.vmPathName", Val: vmx.String()},
		{Name: "summary.config.vmPathName", Val: vmx.String()},
	}
}

// layoutMoves rewrites the VM's file layout after a relocation: vcsim derives the VM's
// datastores from it on every reconfiguration. Its entries do not always name the files'
// real directories, so they are matched by datastore and file name.
type layoutMoves struct {
	disks map[[2]string]string // {datastore, disk file name} -> new datastore
	home  [2]string            // {old, new} datastore of the files other than disks
}

func (l *layoutMoves) disk(from, to string) {
	var p object.DatastorePath
	p.FromString(from)
	if l.disks == nil {
		l.disks = map[[2]string]string{}
	}
	l.disks[[2]string{p.Datastore, path.Base(p.Path)}] = to
	l.disks[[2]string{p.Datastore, path.Base(flatName(p.Path))}] = to
}

func (l *layoutMoves) apply(vm *simulator.VirtualMachine) {
	for i, f := range vm.LayoutEx.File {
		var p object.DatastorePath
		if !p.FromString(f.Name) {
			continue
		}
		to, ok := l.disks[[2]string{p.Datastore, path.Base(p.Path)}]
		if !ok && path.Ext(p.Path) != ".vmdk" && p.Datastore == l.home[0] {
			to, ok = l.home[1], true
		}
		if ok {
			p.Datastore = to
			vm.LayoutEx.File[i].Name = p.String()
		}
	}
}

func homeDatastore(vm *simulator.VirtualMachine) string {
	var vmx object.DatastorePath
	vmx.FromString(vm.Config.Files.VmPathName)
	return vmx.Datastore
}

// moveDisk moves a disk's descriptor and, if there is one, its -flat extent.
func moveDisk(src, dst string) error {
	if _, err := os.Stat(flatName(src)); err == nil {
		if err := moveFile(flatName(src), flatName(dst)); err != nil {
			return err
		}
	}
	return moveFile(src, dst)
}

func flatName(descriptor string) string {
	return strings.TrimSuffix(descriptor, ".vmdk") + "-flat.vmdk"
}

func diskLocator(locators []types.VirtualMachineRelocateSpecDiskLocator, key int32) *types.VirtualMachineRelocateSpecDiskLocator {
	for i := range locators {
		if locators[i].DiskId == key {
			return &locators[i]
		}
	}
	return nil
}

// renameInSnapshots points the disks of vm's snapshots that use file from at file to.
func renameInSnapshots(vm *simulator.VirtualMachine, from, to string, ds types.ManagedObjectReference) {
	if vm.Snapshot == nil {
		return
	}
	var walk func(trees []types.VirtualMachineSnapshotTree)
	walk = func(trees []types.VirtualMachineSnapshotTree) {
		for _, tree := range trees {
			if snap, ok := simulator.Map.Get(tree.Snapshot).(*simulator.VirtualMachineSnapshot); ok {
				renameDisk(snap.Config.Hardware.Device, from, to, ds)
			}
			walk(tree.ChildSnapshotList)
		}
	}
	walk(vm.Snapshot.RootSnapshotList)
}

// renameDisk replaces (not edits: snapshots share device objects) the disk using file from.
func renameDisk(devices []types.BaseVirtualDevice, from, to string, ds types.ManagedObjectReference) {
	for i, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && sameDatastorePath(b.FileName, from) {
			diskCopy, backing := *disk, *b
			backing.FileName, backing.Datastore = to, &ds
			diskCopy.Backing = &backing
			devices[i] = &diskCopy
		}
	}
}

// vmDatastores lists the datastores holding vm's home and disks.
func vmDatastores(vm *simulator.VirtualMachine) []types.ManagedObjectReference {
	var refs []types.ManagedObjectReference
	add := func(ref types.ManagedObjectReference) {
		for _, r := range refs {
			if r == ref {
				return
			}
		}
		refs = append(refs, ref)
	}
	var vmx object.DatastorePath
	dc := datacenterOf(vm)
	if vmx.FromString(vm.Config.Files.VmPathName) {
		for _, e := range simulator.Map.All("Datastore") {
			if ds := e.(*simulator.Datastore); ds.Name == vmx.Datastore && inDatacenter(ds, &dc) {
				add(ds.Self)
				break
			}
		}
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.Datastore != nil {
				add(*b.Datastore)
			}
		}
	}
	return refs
}

func moveFile(src, dst string) error {
	if err := os.MkdirAll(path.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	if err := copyFile(src, dst); err != nil {
		return err
	}
	return os.Remove(src)
}
