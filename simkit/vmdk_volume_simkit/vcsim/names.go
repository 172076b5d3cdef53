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

// VM names unique within a folder, as vCenter keeps them: CreateVM_Task, CloneVM_Task and
// ImportVApp refuse a name that an entity of the destination folder holds already with
// DuplicateName, naming the holder (the tasks fail, ImportVApp answers the fault). vcsim 0.24.2
// checks no name, so a call that a client retries after losing its reply made a second VM
// here where vCenter makes none. The check and the creation happen under one lock, namingMu,
// which a creating call takes before any object's lock (vcsim's creations lock the resource
// pool and folder inside: taken after an object's lock it would deadlock against them). A
// destination folder that does not exist is refused with ManagedObjectNotFound, as vCenter
// does (vcsim's ImportVApp panics, which drops the connection).
package main

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var namingMu sync.Mutex

// uniquelyNamed runs create (a call that makes an entity called name in folder) unless the
// folder holds that name already; then it returns refuse(the DuplicateName fault) instead.
// The caller holds namingMu (taken first, see above).
func uniquelyNamed(folder *types.ManagedObjectReference, name string,
	refuse func(types.BaseMethodFault) soap.HasFault, create func() soap.HasFault) soap.HasFault {
	if folder != nil {
		f, ok := simulator.Map.Get(*folder).(*simulator.Folder)
		if !ok { // vcsim would panic on a folder that is gone
			return refuse(&types.ManagedObjectNotFound{Obj: *folder})
		}
		if holder := simulator.Map.FindByName(name, f.ChildEntity); holder != nil {
			return refuse(&types.DuplicateName{Name: name, Object: holder.Reference()})
		}
	}
	return create()
}

// failedTask answers a *_Task call with a task of obj that fails with fault.
func failedTask(obj mo.Reference, method string, fault types.BaseMethodFault) types.ManagedObjectReference {
	return simulator.CreateTask(obj, method, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, fault
	}).Run()
}
