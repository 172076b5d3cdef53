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

// Datastore clusters (StoragePod) and Storage DRS initial placement. vcsim 0.24.2 makes pods
// (Folder.CreateStoragePod, MoveIntoFolder of datastores) but its RecommendDatastores
// recommends every member whatever its space, state or mounts. vCenter's Storage DRS
// recommends only members that can take the new disks: accessible, out of maintenance,
// mounted read-write on the placement's host (spec.host, else a host of the resource pool's
// compute resource) and with the disks' size free, best first (most free space). When no
// member fits, the call still succeeds (its only faults are InvalidArgument and RuntimeFault):
// the result has no recommendation and a drsFault saying why, InsufficientStorageSpace when a
// member is usable but too small, else NoCompatibleDatastore. Only initial placement of a
// new VM (type create) is served; other types are refused with NotSupported.
// vcsim's MoveIntoFolder into a pod appends the pod's members again to its childEntity each
// time (a second move listed the first members twice): the proxy lists each member once.
// /_sim/pod makes a pod of datastores (by name) in their datacenter's datastore folder.
package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// inProcess serves /_sim/pod's calls inside the simulator (set when the model is built).
var inProcess *simulator.Service

type storageResourceManager struct {
	simulator.StorageResourceManager
}

func installStorageResourceManager(model *simulator.Model) {
	inProcess = model.Service
	m := &storageResourceManager{}
	m.Self = *vpxContent().StorageResourceManager
	simulator.Map.Put(m)
}

func (m *storageResourceManager) RecommendDatastores(req *types.RecommendDatastores) soap.HasFault {
	body := new(methods.RecommendDatastoresBody)
	spec := req.StorageSpec
	pod, needed, fault := placementRequest(spec)
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	hosts := placementHosts(spec)
	var fits []*simulator.Datastore
	usable := false
	for _, ref := range pod.ChildEntity {
		ds, ok := simulator.Map.Get(ref).(*simulator.Datastore)
		if !ok || !usableOn(ds, hosts) {
			continue
		}
		usable = true
		if ds.Summary.FreeSpace >= needed {
			fits = append(fits, ds)
		}
	}
	sort.SliceStable(fits, func(i, j int) bool { return fits[i].Summary.FreeSpace > fits[j].Summary.FreeSpace })
	res := &types.RecommendDatastoresResponse{}
	for i, ds := range fits {
		res.Returnval.Recommendations = append(res.Returnval.Recommendations, recommendation(i+1, pod, ds))
	}
	if len(fits) == 0 {
		res.Returnval.DrsFault = noFit(pod, usable, needed)
	}
	body.Res = res
	return body
}

// placementRequest checks the spec as vCenter does: the pod it names and the bytes its new
// disks need.
func placementRequest(spec types.StoragePlacementSpec) (*simulator.StoragePod, int64, types.BaseMethodFault) {
	if spec.Type != string(types.StoragePlacementSpecPlacementTypeCreate) {
		return nil, 0, &types.NotSupported{}
	}
	ref := spec.PodSelectionSpec.StoragePod
	if ref == nil && len(spec.PodSelectionSpec.InitialVmConfig) > 0 {
		ref = &spec.PodSelectionSpec.InitialVmConfig[0].StoragePod
	}
	if ref == nil {
		return nil, 0, &types.InvalidArgument{InvalidProperty: "podSelectionSpec.storagePod"}
	}
	pod, ok := simulator.Map.Get(*ref).(*simulator.StoragePod)
	if !ok {
		return nil, 0, &types.InvalidArgument{InvalidProperty: "podSelectionSpec.storagePod"}
	}
	if spec.ConfigSpec == nil {
		return nil, 0, &types.InvalidArgument{InvalidProperty: "configSpec"}
	}
	if spec.ResourcePool == nil {
		return nil, 0, &types.InvalidArgument{InvalidProperty: "resourcePool"}
	}
	var needed int64
	for _, change := range spec.ConfigSpec.DeviceChange {
		c := change.GetVirtualDeviceConfigSpec()
		if disk, ok := c.Device.(*types.VirtualDisk); ok && c.FileOperation == types.VirtualDeviceConfigSpecFileOperationCreate {
			size := disk.CapacityInBytes
			if size == 0 {
				size = disk.CapacityInKB * 1024
			}
			needed += size
		}
	}
	return pod, needed, nil
}

// placementHosts are the hosts the new VM may run on: spec.host, else those of the compute
// resource owning spec.resourcePool.
func placementHosts(spec types.StoragePlacementSpec) map[types.ManagedObjectReference]bool {
	hosts := map[types.ManagedObjectReference]bool{}
	if spec.Host != nil {
		hosts[*spec.Host] = true
		return hosts
	}
	pool, ok := simulator.Map.Get(*spec.ResourcePool).(*simulator.ResourcePool)
	if !ok {
		return hosts
	}
	var members []types.ManagedObjectReference
	switch cr := simulator.Map.Get(pool.Owner).(type) {
	case *simulator.ClusterComputeResource:
		members = cr.Host
	case *mo.ComputeResource:
		members = cr.Host
	}
	for _, h := range members {
		hosts[h] = true
	}
	return hosts
}

func usableOn(ds *simulator.Datastore, hosts map[types.ManagedObjectReference]bool) bool {
	if !ds.Summary.Accessible || ds.Summary.MaintenanceMode != string(types.DatastoreSummaryMaintenanceModeStateNormal) {
		return false
	}
	for _, m := range ds.Host {
		info := m.MountInfo
		if hosts[m.Key] && info.AccessMode == string(types.HostMountModeReadWrite) &&
			(info.Mounted == nil || *info.Mounted) && (info.Accessible == nil || *info.Accessible) {
			return true
		}
	}
	return false
}

func recommendation(key int, pod *simulator.StoragePod, ds *simulator.Datastore) types.ClusterRecommendation {
	target := ds.Self
	return types.ClusterRecommendation{
		Key:        strconv.Itoa(key),
		Type:       "V1",
		Time:       time.Now(),
		Rating:     1,
		Reason:     "storagePlacement",
		ReasonText: "Satisfy storage initial placement requests",
		Action: []types.BaseClusterAction{&types.StoragePlacementAction{
			ClusterAction: types.ClusterAction{Type: "StoragePlacementV1"},
			RelocateSpec:  types.VirtualMachineRelocateSpec{Datastore: &target},
			Destination:   target,
		}},
		Target: &pod.Self,
	}
}

func noFit(pod *simulator.StoragePod, usable bool, needed int64) *types.ClusterDrsFaults {
	fault := types.LocalizedMethodFault{Fault: &types.NoCompatibleDatastore{},
		LocalizedMessage: fmt.Sprintf("No datastore of %s is usable on the placement's hosts", pod.Name)}
	if usable {
		fault = types.LocalizedMethodFault{Fault: &types.InsufficientStorageSpace{},
			LocalizedMessage: fmt.Sprintf("No datastore of %s has %d bytes free", pod.Name, needed)}
	}
	return &types.ClusterDrsFaults{Reason: "storagePlacement", FaultsByVm: []types.BaseClusterDrsFaultsFaultsByVm{
		&types.ClusterDrsFaultsFaultsByVm{Fault: []types.LocalizedMethodFault{fault}}}}
}

type podProxy struct{ proxy }

func (p *podProxy) MoveIntoFolderTask(ctx *simulator.Context, req *types.MoveIntoFolder_Task) soap.HasFault {
	req.This = p.target
	pod, ok := ctx.Map.Get(p.target).(*simulator.StoragePod)
	if !ok {
		return &faultBody{simulator.Fault("", &types.ManagedObjectNotFound{Obj: p.target})}
	}
	ctx.Caller = &p.target
	res := pod.MoveIntoFolderTask(ctx, req)
	seen := map[types.ManagedObjectReference]bool{}
	var members []types.ManagedObjectReference
	for _, ref := range pod.ChildEntity {
		if !seen[ref] {
			seen[ref] = true
			members = append(members, ref)
		}
	}
	pod.ChildEntity = members
	return res
}

// podChange is what /_sim/pod makes: a pod named Name of the datastores named Datastores,
// all of one datacenter.
type podChange struct {
	Name       string   `json:"name"`
	Datastores []string `json:"datastores"`
}

// makePod creates the pod through vCenter's own calls (CreateStoragePod, MoveIntoFolder).
func makePod(c podChange) error {
	var refs []types.ManagedObjectReference
	var dc types.ManagedObjectReference
	for _, name := range c.Datastores {
		ds := datastoreNamed(name)
		if ds == nil {
			return fmt.Errorf("no datastore named %q", name)
		}
		if len(refs) > 0 && datacenterOf(ds) != dc {
			return fmt.Errorf("datastore %q is not in the datacenter of %q", name, c.Datastores[0])
		}
		dc = datacenterOf(ds)
		refs = append(refs, ds.Self)
	}
	if len(refs) == 0 {
		return fmt.Errorf("pod %q has no datastores", c.Name)
	}
	ctx := context.Background()
	client, err := vim25.NewClient(ctx, inProcess)
	if err != nil {
		return err
	}
	folders, err := object.NewDatacenter(client, dc).Folders(ctx)
	if err != nil {
		return err
	}
	pod, err := folders.DatastoreFolder.CreateStoragePod(ctx, c.Name)
	if err != nil {
		return err
	}
	task, err := pod.MoveInto(ctx, refs)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

func datastoreNamed(name string) *simulator.Datastore {
	for _, e := range simulator.Map.All("Datastore") {
		if ds := e.(*simulator.Datastore); ds.Name == name {
			return ds
		}
	}
	return nil
}
