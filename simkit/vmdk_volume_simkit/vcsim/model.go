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

// The inventory. vcsim's Model counts VMs per resource pool and creates them all on its first
// datastore; we let it create datacenters, clusters, hosts and datastores, then fix the
// datastores (datastores.go), create -vms VMs per host, spread over the datacenter's
// datastores, and install our replacements of vcsim's singletons.
package main

import (
	"context"
	"path"
	"strconv"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func buildModel(o options) (*simulator.Model, error) {
	model := simulator.VPX()
	model.Datacenter = o.datacenters
	model.Cluster = o.clusters
	model.ClusterHost = o.hosts
	model.Host = o.standalone
	model.Datastore = o.datastores
	model.Machine = 0
	if err := model.Create(); err != nil {
		return nil, err
	}
	fixDatastores(o.datastoreTypes)
	// vcsim means to give each instance its own about.instanceUuid but sets it on a copy, so
	// every simulator would claim the same vCenter identity (migration compares them).
	simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content.About.InstanceUuid = uuid.New().String()
	installVirtualDiskManager()
	installExtensionManager()
	installAuthorizationManager()
	installStorageResourceManager(model)
	watchCreateDates()
	if err := createVMs(model, o.vms); err != nil {
		model.Remove()
		return nil, err
	}
	giveInventoryDisksUuids()
	stampCreateDates()
	return model, nil
}

func vpxContent() types.ServiceContent {
	return simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content
}

// createVMs creates perHost powered-on VMs on every host, named <host>_VM<i>, each with one
// 1 MiB disk, on the datacenter's datastores in turn.
func createVMs(model *simulator.Model, perHost int) error {
	ctx := context.Background()
	client, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return err
	}
	for _, e := range simulator.Map.All("Datacenter") {
		dc := e.(*simulator.Datacenter)
		folders, err := object.NewDatacenter(client, dc.Self).Folders(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, h := range simulator.Map.All("HostSystem") {
			host := h.(*simulator.HostSystem)
			if datacenterOf(host) != dc.Self {
				continue
			}
			pool := object.NewResourcePool(client, *computeResourcePool(host))
			for i := 0; i < perHost; i++ {
				ds := simulator.Map.Get(dc.Datastore[n%len(dc.Datastore)]).(*simulator.Datastore)
				n++
				if err := createVM(ctx, folders.VmFolder, pool, host, ds.Name, i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func computeResourcePool(host *simulator.HostSystem) *types.ManagedObjectReference {
	switch cr := simulator.Map.Get(*host.Parent).(type) {
	case *simulator.ClusterComputeResource:
		return cr.ResourcePool
	case *mo.ComputeResource:
		return cr.ResourcePool
	}
	return nil
}

func createVM(ctx context.Context, folder *object.Folder, pool *object.ResourcePool,
	host *simulator.HostSystem, datastore string, i int) error {
	name := host.Name + "_VM" + strconv.Itoa(i)
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return err
	}
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
		"["+datastore+"] "+path.Join(name, "disk1.vmdk"))
	disk.CapacityInKB = 1024
	disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Uuid = uuid.New().String() // vCenter gives one
	disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Uuid = uuid.New().String() // as vCenter gives
	devices = append(devices, scsi, disk)
	spec := types.VirtualMachineConfigSpec{
		Name:    name,
		GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest),
		Files:   &types.VirtualMachineFileInfo{VmPathName: "[" + datastore + "]"},
	}
	if spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
		return err
	}
	hostRef := object.NewHostSystem(folder.Client(), host.Self)
	task, err := folder.CreateVM(ctx, spec, pool, hostRef)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	vm := object.NewVirtualMachine(folder.Client(), info.Result.(types.ManagedObjectReference))
	task, err = vm.PowerOn(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}
