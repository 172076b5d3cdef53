// VirtualDiskManager.ExtendVirtualDisk_Task, which vcsim 0.24.2 lacks. The driver extends a
// volume's disk with it. vcsim's disk files are placeholders, so extending means updating the
// capacity of the VirtualDisk device of every VM backed by that file. The VirtualDiskManager
// singleton is only used through an interface inside vcsim, so our type replaces it in
// simulator.Map under the same moref.
package main

import (
	"fmt"
	"os"

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
		simulator.Map.WithLock(vm, func() {
			devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
			disk := diskByFile(vm, req.Name)
			disk.CapacityInKB = req.NewCapacityKb
			disk.CapacityInBytes = newBytes
			disk.DeviceInfo = &types.Description{
				Label:   devices.Name(disk),
				Summary: fmt.Sprintf("%d KB", req.NewCapacityKb),
			}
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "config.hardware.device", Val: []types.BaseVirtualDevice(devices)},
			})
		})
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
