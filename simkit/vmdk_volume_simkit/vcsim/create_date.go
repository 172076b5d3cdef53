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

// VM creation dates. vCenter (6.7 and later) sets a VM's config.createDate when it creates
// or registers the VM (CreateVM_Task, CloneVM_Task, ImportVApp, RegisterVM_Task); vcsim
// 0.24.2 leaves it unset. vcsim registers a new VM before it gives it a config, so a registry
// handler notes each VM as it is put, with the time, and the SOAP handler stamps the noted
// VMs once the call that made them has run, before its answer leaves (stampCreateDates).
package main

import (
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type createDates struct {
	mo.ExtensibleManagedObject // a neutral mo type, as vcsim requires of a handler
	mu                         sync.Mutex
	pending                    map[types.ManagedObjectReference]time.Time
}

var created = &createDates{pending: map[types.ManagedObjectReference]time.Time{}}

// watchCreateDates registers the handler with the current registry (model.Create makes it).
func watchCreateDates() {
	created.Self = types.ManagedObjectReference{Type: proxyTypePrefix + "CreateDates", Value: "createDates"}
	simulator.Map.AddHandler(created)
}

func (c *createDates) PutObject(obj mo.Reference) {
	if vm, ok := obj.(*simulator.VirtualMachine); ok {
		c.mu.Lock()
		c.pending[vm.Self] = time.Now()
		c.mu.Unlock()
	}
}

func (c *createDates) UpdateObject(mo.Reference, []types.PropertyChange) {}

func (c *createDates) RemoveObject(ref types.ManagedObjectReference) {
	c.mu.Lock()
	delete(c.pending, ref)
	c.mu.Unlock()
}

// stampCreateDates sets config.createDate of every VM noted since the last call that has a
// config by now (one whose creation failed is removed, or keeps waiting for its config). The
// VMs are locked one at a time without holding c.mu: a VM's lock can be held by a call that
// puts a new VM (a clone), which takes c.mu.
func stampCreateDates() {
	created.mu.Lock()
	noted := make(map[types.ManagedObjectReference]time.Time, len(created.pending))
	for ref, at := range created.pending {
		noted[ref] = at
	}
	created.mu.Unlock()
	for ref, at := range noted {
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok && !stamp(vm, at) {
			continue
		}
		created.mu.Lock()
		delete(created.pending, ref)
		created.mu.Unlock()
	}
}

// stamp dates vm (if not dated yet) and says whether it could: whether it has a config.
func stamp(vm *simulator.VirtualMachine, at time.Time) (done bool) {
	simulator.Map.WithLock(vm, func() {
		if done = vm.Config != nil; done && vm.Config.CreateDate == nil {
			simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.createDate", Val: at}})
		}
	})
	return done
}
