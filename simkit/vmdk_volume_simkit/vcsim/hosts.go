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

// Host maintenance mode as property collectors see it. vcsim's EnterMaintenanceMode_Task and
// ExitMaintenanceMode_Task set runtime.inMaintenanceMode on the host directly, so a filter on
// it reports nothing (WaitForUpdatesEx); vCenter reports the change. Once such a call
// succeeded, the host's mode is set again through the registry, which reports it.
package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var maintenanceMethods = map[string]bool{"EnterMaintenanceMode_Task": true,
	"ExitMaintenanceMode_Task": true}

// reportMaintenance reports the maintenance mode of the host a maintenance call was made on.
func reportMaintenance(method string, request []byte) {
	m := thisElement.FindSubmatch(request)
	if !maintenanceMethods[method] || m == nil {
		return
	}
	ref := types.ManagedObjectReference{Type: string(m[2]), Value: string(m[4])}
	host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
	if !ok {
		return
	}
	simulator.Map.WithLock(host, func() {
		simulator.Map.Update(host, []types.PropertyChange{
			{Name: "runtime.inMaintenanceMode", Val: host.Runtime.InMaintenanceMode}})
	})
}
