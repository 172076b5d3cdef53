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

// VirtualDiskManager.ExtendVirtualDisk_Task, which vcsim 0.24.2 lacks. The driver extends a
// volume's disk with it. vcsim's disk files are placeholders, so extending means updating the
// capacity of the VirtualDisk device of every VM backed by that file. The VirtualDiskManager
// singleton is only used through an interface inside vcsim, so our type replaces it in
// simulator.Map under the same moref.
//
// CopyVirtualDisk_Task of a hosted sparse disk (one file starting with "KDMV": monolithicSparse,
// or streamOptimized as an NFC import leaves it) converts it as vCenter does: the destination
// becomes a flat disk, a descriptor and its -flat extent holding the data (qemu-img). Other
// sources are copied file by file, as vcsim does.
//
// Extend, copy and delete refuse a file that a powered-on VM holds (locks.go).
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type virtualDiskManager struct {
	simulator.VirtualDiskManager
}

func installVirtualDiskManager() {
	ref := simulator.Map.Get(*vpxContent().VirtualDiskManager).(*simulator.VirtualDiskManager)
	simulator.Map.Put(&virtualDiskManager{VirtualDiskManager: *ref})
}

func (m *virtualDiskManager) ExtendVirtualDiskTask(ctx *simulator.Context, req *types.ExtendVirtualDisk_Task) soap.HasFault {
	task := simulator.CreateTask(m, "extendVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, extendDisk(ctx, req)
	})
	return &methods.ExtendVirtualDisk_TaskBody{
		Res: &types.ExtendVirtualDisk_TaskResponse{Returnval: task.Run()},
	}
}

func extendDisk(ctx *simulator.Context, req *types.ExtendVirtualDisk_Task) types.BaseMethodFault {
	file, fault := localPath(req.Datacenter, req.Name)
	if fault != nil {
		return fault
	}
	if lockHolder(req.Name, nil) != nil {
		return fileLocked(req.Name)
	}
	newBytes := req.NewCapacityKb * 1024
	var vms []*simulator.VirtualMachine
	for _, e := range ctx.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		if disk := diskByFile(vm, req.Name); disk != nil {
			if diskBytes(disk) > newBytes {
				return &types.InvalidArgument{InvalidProperty: "newCapacityKb"}
			}
			vms = append(vms, vm)
		}
	}
	if len(vms) == 0 {
		if _, err := os.Stat(file); err != nil {
			return &types.FileNotFound{FileFault: types.FileFault{File: req.Name}}
		}
	}
	for _, vm := range vms {
		setDisk(vm, req.Name, req.NewCapacityKb, "")
	}
	return nil
}

// diskByFile returns the VM's disk whose backing file is name ("[ds] path"), or nil.
func diskByFile(vm *simulator.VirtualMachine, name string) *types.VirtualDisk {
	if vm.Config == nil {
		return nil
	}
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok &&
			sameDatastorePath(b.GetVirtualDeviceFileBackingInfo().FileName, name) {
			return disk
		}
	}
	return nil
}

// diskBytes returns a disk's capacity in bytes, from capacityInBytes if set.
func diskBytes(disk *types.VirtualDisk) int64 {
	if disk.CapacityInBytes > 0 {
		return disk.CapacityInBytes
	}
	return disk.CapacityInKB * 1024
}

func sameDatastorePath(a, b string) bool {
	var pa, pb object.DatastorePath
	return pa.FromString(a) && pb.FromString(b) && pa == pb
}

func (m *virtualDiskManager) CopyVirtualDiskTask(ctx *simulator.Context, req *types.CopyVirtualDisk_Task) soap.HasFault {
	if lockHolder(req.SourceName, nil) != nil {
		return lockedTask(&methods.CopyVirtualDisk_TaskBody{}, m, "copyVirtualDisk", req.SourceName)
	}
	src, fault := localPath(req.SourceDatacenter, req.SourceName)
	if fault == nil && !sparseVMDK(src) {
		return m.VirtualDiskManager.CopyVirtualDiskTask(ctx, req)
	}
	task := simulator.CreateTask(m, "copyVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if fault != nil {
			return nil, fault
		}
		return nil, flattenDisk(src, req)
	})
	return &methods.CopyVirtualDisk_TaskBody{
		Res: &types.CopyVirtualDisk_TaskResponse{Returnval: task.Run()},
	}
}

// flattenDisk writes the sparse disk src as the flat disk req.DestName.
func flattenDisk(src string, req *types.CopyVirtualDisk_Task) types.BaseMethodFault {
	dst, fault := localPath(req.DestDatacenter, req.DestName)
	if fault != nil {
		return fault
	}
	if _, err := os.Stat(dst); err == nil && (req.Force == nil || !*req.Force) {
		return &types.FileAlreadyExists{FileFault: types.FileFault{File: req.DestName}}
	}
	flat := strings.TrimSuffix(dst, ".vmdk") + "-flat.vmdk"
	cmd := exec.Command("qemu-img", "convert", "-q", "-f", "vmdk", "-O", "raw", src, flat)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return &types.CannotAccessFile{FileFault: types.FileFault{
			File: fmt.Sprintf("%s (qemu-img: %v: %s)", req.SourceName, err, msg)}}
	}
	info, err := os.Stat(flat)
	if err != nil {
		return &types.CannotCreateFile{FileFault: types.FileFault{File: req.DestName}}
	}
	descriptor := fmt.Sprintf("# Disk DescriptorFile\nversion=1\ncreateType=\"vmfs\"\n"+
		"RW %d VMFS \"%s\"\n", info.Size()/512, path.Base(flat))
	if err := os.WriteFile(dst, []byte(descriptor), 0o644); err != nil {
		return &types.CannotCreateFile{FileFault: types.FileFault{File: req.DestName}}
	}
	return nil
}

// sparseVMDK tells whether file is a hosted sparse VMDK (it starts with the "KDMV" magic).
func sparseVMDK(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "KDMV"
}
