// The storage-policy (PBM) endpoint at /pbm, which oslo.vmware's Pbm client talks to. It is
// govmomi's pbm simulator (PbmRetrieveServiceContent, PbmQueryProfile, PbmRetrieveContent,
// PbmQueryAssociatedProfile, PbmCreate, PbmDelete, PbmCheckRequirements) plus the two methods
// it lacks that the driver uses: PbmQueryAssociatedProfiles (no entity has a profile here) and
// PbmQueryMatchingHub (every hub matches every profile).
package main

import (
	"github.com/vmware/govmomi/pbm"
	"github.com/vmware/govmomi/pbm/methods"
	pbmsim "github.com/vmware/govmomi/pbm/simulator"
	"github.com/vmware/govmomi/pbm/types"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
)

type profileManager struct {
	pbmsim.ProfileManager
}

type placementSolver struct {
	pbmsim.PlacementSolver
}

func pbmRegistry() *simulator.Registry {
	r := pbmsim.New()
	content := r.Get(pbm.ServiceInstance).(*pbmsim.ServiceInstance).Content
	r.Put(&profileManager{*r.Get(content.ProfileManager).(*pbmsim.ProfileManager)})
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
	return &methods.PbmQueryMatchingHubBody{
		Res: &types.PbmQueryMatchingHubResponse{Returnval: req.HubsToSearch},
	}
}
