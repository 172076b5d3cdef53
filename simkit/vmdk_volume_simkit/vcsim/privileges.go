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

// AuthorizationManager.HasPrivilegeOnEntities answering from a deny list. vcsim 0.24.2
// grants every privilege to everyone, so a user lacking one could not be tested. /_sim/privileges
// sets the deny list: privileges refused everywhere, or only on the entities of a given name.
// Our type replaces vcsim's under the same moref (vcsim never type-asserts it).
package main

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// denial refuses Privilege on the entities named Entity, or on every entity if Entity is "".
type denial struct {
	Privilege string `json:"privilege"`
	Entity    string `json:"entity"`
}

// privilegeChange is what /_sim/privileges sets: the whole deny list (empty: grant all).
type privilegeChange struct {
	Deny []denial `json:"deny"`
}

var denied = struct {
	sync.Mutex
	list []denial
}{}

func denyPrivileges(c privilegeChange) {
	denied.Lock()
	defer denied.Unlock()
	denied.list = append([]denial{}, c.Deny...)
}

type authorizationManager struct {
	simulator.AuthorizationManager
}

func installAuthorizationManager() {
	ref := simulator.Map.Get(*vpxContent().AuthorizationManager).(*simulator.AuthorizationManager)
	simulator.Map.Put(&authorizationManager{AuthorizationManager: *ref})
}

func (m *authorizationManager) HasPrivilegeOnEntities(ctx *simulator.Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	body := &methods.HasPrivilegeOnEntitiesBody{Res: new(types.HasPrivilegeOnEntitiesResponse)}
	for _, e := range req.Entity {
		name := ""
		if entity, ok := ctx.Map.Get(e).(mo.Entity); ok {
			name = entity.Entity().Name
		}
		priv := types.EntityPrivilege{Entity: e}
		for _, id := range req.PrivId {
			priv.PrivAvailability = append(priv.PrivAvailability, types.PrivilegeAvailability{
				PrivId: id, IsGranted: !isDenied(id, name),
			})
		}
		body.Res.Returnval = append(body.Res.Returnval, priv)
	}
	return body
}

func isDenied(privilege, entity string) bool {
	denied.Lock()
	defer denied.Unlock()
	for _, d := range denied.list {
		if d.Privilege == privilege && (d.Entity == "" || d.Entity == entity) {
			return true
		}
	}
	return false
}
