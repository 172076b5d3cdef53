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

// Datastores as a vCenter shows them. vcsim creates each model datastore once per host and
// keeps only the last copy, so Datastore.host lists one host and the other hosts do not list
// the datastore; every datastore has summary.type OTHER and the capacity of the temp
// directory's file system. We mount every datastore on every host of its datacenter, give it
// the type from -datastore-types (with the matching info subtype), and a capacity of 1 TiB with
// free space decreasing by 1 GiB per datastore index, so placement ranking is testable.
// vcsim keeps using info.url as the local temp directory that holds the datastore's files.
package main

import (
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	gib              = int64(1) << 30
	datastoreSize    = 1024 * gib
	datastoreMaxFree = 900 * gib
)

// fixDatastores mounts each datastore on all hosts of its datacenter and sets its type,
// info and capacity.
func fixDatastores(kinds []string) {
	hosts := map[types.ManagedObjectReference][]*simulator.HostSystem{}
	for _, e := range simulator.Map.All("HostSystem") {
		h := e.(*simulator.HostSystem)
		dc := datacenterOf(h)
		hosts[dc] = append(hosts[dc], h)
	}
	stores := map[types.ManagedObjectReference][]*simulator.Datastore{}
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		dc := datacenterOf(ds)
		stores[dc] = append(stores[dc], ds)
	}
	for dc, dss := range stores {
		sort.Slice(dss, func(i, j int) bool { return datastoreIndex(dss[i]) < datastoreIndex(dss[j]) })
		var refs []types.ManagedObjectReference
		for i, ds := range dss {
			refs = append(refs, ds.Self)
			setDatastoreKind(ds, kinds[i%len(kinds)], i)
			ds.Host = nil
			for _, h := range hosts[dc] {
				ds.Host = append(ds.Host, types.DatastoreHostMount{
					Key: h.Self,
					MountInfo: types.HostMountInfo{
						Path:       ds.Info.GetDatastoreInfo().Url,
						AccessMode: string(types.HostMountModeReadWrite),
						Mounted:    types.NewBool(true),
						Accessible: types.NewBool(true),
					},
				})
			}
		}
		for _, ds := range dss {
			browser := simulator.Map.Get(ds.Browser).(*simulator.HostDatastoreBrowser)
			browser.Datastore = refs
		}
		simulator.Map.Get(dc).(*simulator.Datacenter).Datastore = refs
		for _, h := range hosts[dc] {
			h.Datastore = refs
			dss := simulator.Map.Get(*h.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
			dss.Datastore = refs
			switch cr := simulator.Map.Get(*h.Parent).(type) {
			case *mo.ComputeResource:
				cr.Datastore = refs
			case *simulator.ClusterComputeResource:
				cr.Datastore = refs
			}
		}
	}
}

// datastoreIndex is the i of vcsim's datastore name LocalDS_i.
func datastoreIndex(ds *simulator.Datastore) int {
	var i int
	fmt.Sscanf(ds.Name, "LocalDS_%d", &i)
	return i
}

func setDatastoreKind(ds *simulator.Datastore, kind string, index int) {
	now := time.Now()
	free := datastoreMaxFree - int64(index%100)*gib
	info := types.DatastoreInfo{
		Name:                   ds.Name,
		Url:                    ds.Info.GetDatastoreInfo().Url,
		FreeSpace:              free,
		MaxFileSize:            62 * 1024 * gib,
		MaxVirtualDiskCapacity: 62 * 1024 * gib,
		MaxMemoryFileSize:      62 * 1024 * gib,
		Timestamp:              &now,
	}
	volume := types.HostFileSystemVolume{Type: kind, Name: ds.Name, Capacity: datastoreSize}
	switch kind {
	case "VMFS":
		ds.Info = &types.VmfsDatastoreInfo{DatastoreInfo: info, Vmfs: &types.HostVmfsVolume{
			HostFileSystemVolume: volume,
			BlockSizeMb:          1,
			MaxBlocks:            64 * 1024 * 1024,
			MajorVersion:         6,
			Version:              "6.82",
			Uuid:                 uuid.New().String(),
			Local:                types.NewBool(false),
			Ssd:                  types.NewBool(true),
		}}
	case "NFS", "NFS41":
		ds.Info = &types.NasDatastoreInfo{DatastoreInfo: info, Nas: &types.HostNasVolume{
			HostFileSystemVolume: volume,
			RemoteHost:           "nfs.vcsim.local",
			RemotePath:           "/exports/" + ds.Name,
		}}
	case "vsan":
		ds.Info = &types.VsanDatastoreInfo{DatastoreInfo: info, MembershipUuid: uuid.New().String()}
	case "VVOL":
		ds.Info = &types.VvolDatastoreInfo{DatastoreInfo: info, VvolDS: &types.HostVvolVolume{
			HostFileSystemVolume: volume,
			ScId:                 uuid.New().String(),
		}}
	default:
		ds.Info = &types.LocalDatastoreInfo{DatastoreInfo: info, Path: info.Url}
	}
	ds.Summary.Type = kind
	ds.Summary.Url = info.Url
	ds.Summary.Capacity = datastoreSize
	ds.Summary.FreeSpace = free
	ds.Summary.Accessible = true
	ds.Summary.MultipleHostAccess = types.NewBool(true)
	ds.Summary.MaintenanceMode = string(types.DatastoreSummaryMaintenanceModeStateNormal)
}

// localPath maps a datastore path "[ds] dir/file" to the file in the datastore's directory.
// With dc nil, the datastore is looked up in every datacenter.
func localPath(dc *types.ManagedObjectReference, name string) (string, types.BaseMethodFault) {
	var p object.DatastorePath
	if !p.FromString(name) {
		return "", &types.InvalidDatastorePath{DatastorePath: name}
	}
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name == p.Datastore && inDatacenter(ds, dc) {
			return path.Join(ds.Info.GetDatastoreInfo().Url, p.Path), nil
		}
	}
	return "", &types.InvalidDatastore{Name: p.Datastore}
}

// datastoreChange is what /_sim/datastore changes on one datastore, so tests can make
// datastores unusable the ways a vCenter reports it.
type datastoreChange struct {
	Name        string   `json:"name"`
	UnmountFrom []string `json:"unmount_from"` // host names
	MountOn     []string `json:"mount_on"`     // host names (mounted and accessible again)
	Maintenance *bool    `json:"maintenance"`
	Accessible  *bool    `json:"accessible"`
	Capacity    *int64   `json:"capacity"`    // bytes
	FreeSpace   *int64   `json:"free_space"`  // bytes
	Uncommitted *int64   `json:"uncommitted"` // bytes
}

func changeDatastore(c datastoreChange) error {
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name != c.Name {
			continue
		}
		simulator.Map.WithLock(ds, func() {
			changes := mountChanges(ds, c)
			if c.Maintenance != nil {
				mode := types.DatastoreSummaryMaintenanceModeStateNormal
				if *c.Maintenance {
					mode = types.DatastoreSummaryMaintenanceModeStateInMaintenance
				}
				changes = append(changes, types.PropertyChange{Name: "summary.maintenanceMode", Val: string(mode)})
			}
			if c.Accessible != nil {
				changes = append(changes, types.PropertyChange{Name: "summary.accessible", Val: *c.Accessible})
			}
			changes = append(changes, spaceChanges(ds, c)...)
			// Through the registry, so property collectors report each change (WaitForUpdatesEx),
			// as vCenter does.
			simulator.Map.Update(ds, changes)
		})
		return nil
	}
	return fmt.Errorf("no datastore named %q", c.Name)
}

// mountChanges returns the change of Datastore.host that unmounts and mounts the datastore
// on the hosts the change names (none if it names none).
func mountChanges(ds *simulator.Datastore, c datastoreChange) []types.PropertyChange {
	if len(c.UnmountFrom) == 0 && len(c.MountOn) == 0 {
		return nil
	}
	mounts := append([]types.DatastoreHostMount(nil), ds.Host...)
	for i := range mounts {
		host := simulator.Map.Get(mounts[i].Key).(*simulator.HostSystem)
		for _, name := range c.UnmountFrom {
			if host.Name == name {
				mounts[i].MountInfo.Mounted = types.NewBool(false)
				mounts[i].MountInfo.Accessible = types.NewBool(false)
			}
		}
		for _, name := range c.MountOn {
			if host.Name == name {
				mounts[i].MountInfo.Mounted = types.NewBool(true)
				mounts[i].MountInfo.Accessible = types.NewBool(true)
			}
		}
	}
	return []types.PropertyChange{{Name: "host", Val: mounts}}
}

// spaceChanges returns the changes of the datastore's capacity, free and uncommitted space
// the change gives, in the summary as vCenter keeps them; free space is set in the info too
// (uncommitted is only in the summary).
func spaceChanges(ds *simulator.Datastore, c datastoreChange) []types.PropertyChange {
	var changes []types.PropertyChange
	if c.Capacity != nil {
		changes = append(changes, types.PropertyChange{Name: "summary.capacity", Val: *c.Capacity})
	}
	if c.FreeSpace != nil {
		ds.Info.GetDatastoreInfo().FreeSpace = *c.FreeSpace
		changes = append(changes, types.PropertyChange{Name: "summary.freeSpace", Val: *c.FreeSpace})
	}
	if c.Uncommitted != nil {
		changes = append(changes, types.PropertyChange{Name: "summary.uncommitted", Val: *c.Uncommitted})
	}
	return changes
}
