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

// The storage-policy (PBM) endpoint at /pbm, which oslo.vmware's Pbm client talks to. It is
// govmomi's pbm simulator (PbmRetrieveServiceContent, PbmQueryProfile, PbmRetrieveContent,
// PbmQueryAssociatedProfile, PbmCreate, PbmDelete, PbmCheckRequirements) plus the two methods
// it lacks that the driver uses: PbmQueryAssociatedProfiles (no entity has a profile here) and
// PbmQueryMatchingHub (every hub matches a policy, unless /_sim/policy restricted it to some
// datastores); and PbmQueryAssociatedProfile answers with the policies specs gave VMs and
// disks (recorded below).
package main

import (
	"fmt"
	"sync"

	"github.com/vmware/govmomi/pbm"
	"github.com/vmware/govmomi/pbm/methods"
	pbmsim "github.com/vmware/govmomi/pbm/simulator"
	"github.com/vmware/govmomi/pbm/types"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	vim "github.com/vmware/govmomi/vim25/types"
)

type profileManager struct {
	pbmsim.ProfileManager
}

type placementSolver struct {
	pbmsim.PlacementSolver
}

// The profile manager, for /_sim/policy to look policies up by name.
var policies *profileManager

func pbmRegistry() *simulator.Registry {
	r := pbmsim.New()
	content := r.Get(pbm.ServiceInstance).(*pbmsim.ServiceInstance).Content
	policies = &profileManager{*r.Get(content.ProfileManager).(*pbmsim.ProfileManager)}
	r.Put(policies)
	r.Put(&placementSolver{*r.Get(content.PlacementSolver).(*pbmsim.PlacementSolver)})
	return r
}

func (m *profileManager) PbmQueryAssociatedProfiles(req *types.PbmQueryAssociatedProfiles) soap.HasFault {
	body := &methods.PbmQueryAssociatedProfilesBody{Res: new(types.PbmQueryAssociatedProfilesResponse)}
	for _, e := range req.Entities {
		body.Res.Returnval = append(body.Res.Returnval, types.PbmQueryProfileResult{Object: e})
	}
	return body
}

func (s *placementSolver) PbmQueryMatchingHub(req *types.PbmQueryMatchingHub) soap.HasFault {
	matching.Lock()
	allowed, restricted := matching.datastores[req.Profile.UniqueId]
	matching.Unlock()
	hubs := req.HubsToSearch
	if restricted {
		hubs = nil
		for _, hub := range req.HubsToSearch {
			if allowed[hub.HubId] {
				hubs = append(hubs, hub)
			}
		}
	}
	return &methods.PbmQueryMatchingHubBody{
		Res: &types.PbmQueryMatchingHubResponse{Returnval: hubs},
	}
}

// The datastores (moref values) each restricted policy (by id) matches; /_sim/policy sets them.
var matching = struct {
	sync.Mutex
	datastores map[string]map[string]bool
}{datastores: map[string]map[string]bool{}}

// policyChange is what /_sim/policy sets: the datastores (by name) a policy (by name) matches;
// without datastores, the policy matches every datastore again.
type policyChange struct {
	Policy     string   `json:"policy"`
	Datastores []string `json:"datastores"`
}

func restrictPolicy(c policyChange) error {
	id, err := policyID(c.Policy)
	if err != nil {
		return err
	}
	matching.Lock()
	defer matching.Unlock()
	if c.Datastores == nil {
		delete(matching.datastores, id)
		return nil
	}
	allowed := map[string]bool{}
	for _, name := range c.Datastores {
		ds := simulator.Map.FindByName(name, datastoreRefs())
		if ds == nil {
			return fmt.Errorf("no datastore named %q", name)
		}
		allowed[ds.Reference().Value] = true
	}
	matching.datastores[id] = allowed
	return nil
}

func datastoreRefs() []vim.ManagedObjectReference {
	var refs []vim.ManagedObjectReference
	for _, e := range simulator.Map.All("Datastore") {
		refs = append(refs, e.Reference())
	}
	return refs
}

func policyID(name string) (string, error) {
	query := policies.PbmQueryProfile(&types.PbmQueryProfile{
		ResourceType: types.PbmProfileResourceType{ResourceType: "STORAGE"},
	}).(*methods.PbmQueryProfileBody)
	content := policies.PbmRetrieveContent(&types.PbmRetrieveContent{
		ProfileIds: query.Res.Returnval,
	}).(*methods.PbmRetrieveContentBody)
	for _, p := range content.Res.Returnval {
		if p.GetPbmProfile().Name == name {
			return p.GetPbmProfile().ProfileId.UniqueId, nil
		}
	}
	return "", fmt.Errorf("no storage policy named %q", name)
}

// Storage policies of VMs and their disks, recorded from the specs that set them (CreateVM,
// ReconfigVM, CloneVM, RelocateVM), keyed as PbmServerObjectRef keys: "vm-12" for a VM's home,
// "vm-12:2000" for its disk 2000. PbmQueryAssociatedProfile answers from them.
var associated = struct {
	sync.Mutex
	profiles map[string][]string
}{profiles: map[string][]string{}}

// recordProfiles notes the policies a spec gives a VM's home and disks (unset: unchanged).
func recordProfiles(vm vim.ManagedObjectReference, home []vim.BaseVirtualMachineProfileSpec,
	disks []vim.VirtualMachineRelocateSpecDiskLocator) {
	associated.Lock()
	defer associated.Unlock()
	if ids := profileIds(home); ids != nil {
		associated.profiles[vm.Value] = ids
	}
	for _, d := range disks {
		if ids := profileIds(d.Profile); ids != nil {
			associated.profiles[fmt.Sprintf("%s:%d", vm.Value, d.DiskId)] = ids
		}
	}
}

// recordDeviceProfiles notes the policies of the disks a device change adds or edits.
func recordDeviceProfiles(vm vim.ManagedObjectReference, changes []vim.BaseVirtualDeviceConfigSpec) {
	var disks []vim.VirtualMachineRelocateSpecDiskLocator
	for _, c := range changes {
		spec := c.GetVirtualDeviceConfigSpec()
		if _, ok := spec.Device.(*vim.VirtualDisk); ok && spec.Operation != vim.VirtualDeviceConfigSpecOperationRemove {
			disks = append(disks, vim.VirtualMachineRelocateSpecDiskLocator{DiskId: spec.Device.GetVirtualDevice().Key, Profile: spec.Profile})
		}
	}
	recordProfiles(vm, nil, disks)
}

// profileIds lists the ids of defined profiles, [] for an empty profile (policy removed).
func profileIds(specs []vim.BaseVirtualMachineProfileSpec) []string {
	if specs == nil {
		return nil
	}
	ids := []string{}
	for _, s := range specs {
		if d, ok := s.(*vim.VirtualMachineDefinedProfileSpec); ok {
			ids = append(ids, d.ProfileId)
		}
	}
	return ids
}

func (m *profileManager) PbmQueryAssociatedProfile(req *types.PbmQueryAssociatedProfile) soap.HasFault {
	body := &methods.PbmQueryAssociatedProfileBody{Res: new(types.PbmQueryAssociatedProfileResponse)}
	associated.Lock()
	defer associated.Unlock()
	for _, id := range associated.profiles[req.Entity.Key] {
		body.Res.Returnval = append(body.Res.Returnval, types.PbmProfileId{UniqueId: id})
	}
	return body
}
