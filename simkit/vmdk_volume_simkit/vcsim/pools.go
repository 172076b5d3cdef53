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

// Resource pools' lists of VMs. vcsim's MarkAsTemplate clears a VM's resourcePool but leaves
// it in the pool's vm list, and its Destroy then removes it only from the pool the VM names:
// a destroyed template stayed listed in ResourcePool.vm, a reference to nothing.
package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// leavePools removes vm from the vm list of every resource pool and vApp listing it.
func leavePools(vm types.ManagedObjectReference) {
	for _, kind := range []string{"ResourcePool", "VirtualApp"} {
		for _, e := range simulator.Map.All(kind) {
			switch pool := e.(type) {
			case *simulator.ResourcePool:
				simulator.Map.RemoveReference(pool, &pool.Vm, vm)
			case *simulator.VirtualApp:
				simulator.Map.RemoveReference(pool, &pool.Vm, vm)
			}
		}
	}
}
