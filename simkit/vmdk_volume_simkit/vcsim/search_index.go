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

// SearchIndex.FindAllByUuid, which vcsim 0.24.2 lacks (it has FindByUuid). The driver finds
// its backing VMs by instance UUID with it. Served through a proxy (see proxy.go) because vcsim
// type-asserts the SearchIndex singleton to its own type.
package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type searchIndexProxy struct{ proxy }

func (p *searchIndexProxy) FindAllByUuid(ctx *simulator.Context, req *types.FindAllByUuid) soap.HasFault {
	body := &methods.FindAllByUuidBody{Res: new(types.FindAllByUuidResponse)}
	byInstance := req.InstanceUuid != nil && *req.InstanceUuid
	if req.VmSearch {
		for _, e := range ctx.Map.All("VirtualMachine") {
			vm, ok := e.(*simulator.VirtualMachine)
			if !ok || vm.Config == nil || !inDatacenter(vm, req.Datacenter) {
				continue
			}
			uuid := vm.Config.Uuid
			if byInstance {
				uuid = vm.Config.InstanceUuid
			}
			if uuid == req.Uuid {
				body.Res.Returnval = append(body.Res.Returnval, vm.Self)
			}
		}
		return body
	}
	for _, e := range ctx.Map.All("HostSystem") {
		host, ok := e.(*simulator.HostSystem)
		if ok && host.Summary.Hardware != nil && host.Summary.Hardware.Uuid == req.Uuid &&
			inDatacenter(host, req.Datacenter) {
			body.Res.Returnval = append(body.Res.Returnval, host.Self)
		}
	}
	return body
}

// inDatacenter tells whether an entity lies under the datacenter dc (any if dc is nil).
func inDatacenter(e mo.Entity, dc *types.ManagedObjectReference) bool {
	if dc == nil {
		return true
	}
	return datacenterOf(e) == *dc
}

// datacenterOf returns the datacenter an entity lies under (zero if none).
func datacenterOf(e mo.Entity) types.ManagedObjectReference {
	for e != nil {
		if e.Entity().Self.Type == "Datacenter" {
			return e.Entity().Self
		}
		parent := e.Entity().Parent
		if parent == nil {
			break
		}
		e, _ = simulator.Map.Get(*parent).(mo.Entity)
	}
	return types.ManagedObjectReference{}
}
