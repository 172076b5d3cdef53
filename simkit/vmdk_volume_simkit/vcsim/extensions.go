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

// ExtensionManager methods, which vcsim 0.24.2 lacks entirely (it only serves the empty
// extensionList property). The driver registers itself as the "org.openstack.storage"
// extension and marks its VMs managedBy it. Our type replaces vcsim's plain mo object under
// the same moref; extensionList follows registrations through simulator.Map.Update.
package main

import (
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type extensionManager struct {
	mo.ExtensionManager
}

func installExtensionManager() {
	m := &extensionManager{}
	m.Self = *vpxContent().ExtensionManager
	simulator.Map.Put(m)
}

func (m *extensionManager) find(key string) int {
	for i := range m.ExtensionList {
		if m.ExtensionList[i].Key == key {
			return i
		}
	}
	return -1
}

func (m *extensionManager) setList(list []types.Extension) {
	simulator.Map.Update(m, []types.PropertyChange{{Name: "extensionList", Val: list}})
}

func (m *extensionManager) FindExtension(req *types.FindExtension) soap.HasFault {
	body := &methods.FindExtensionBody{Res: new(types.FindExtensionResponse)}
	if i := m.find(req.ExtensionKey); i >= 0 {
		ext := m.ExtensionList[i]
		body.Res.Returnval = &ext
	}
	return body
}

func (m *extensionManager) RegisterExtension(req *types.RegisterExtension) soap.HasFault {
	if m.find(req.Extension.Key) >= 0 {
		return &methods.RegisterExtensionBody{
			Fault_: simulator.Fault("extension already registered: "+req.Extension.Key, &types.InvalidArgument{InvalidProperty: "extension.key"}),
		}
	}
	ext := req.Extension
	ext.LastHeartbeatTime = time.Now()
	m.setList(append(append([]types.Extension{}, m.ExtensionList...), ext))
	return &methods.RegisterExtensionBody{Res: new(types.RegisterExtensionResponse)}
}

func (m *extensionManager) UpdateExtension(req *types.UpdateExtension) soap.HasFault {
	i := m.find(req.Extension.Key)
	if i < 0 {
		return &methods.UpdateExtensionBody{Fault_: simulator.Fault("", &types.NotFound{})}
	}
	list := append([]types.Extension{}, m.ExtensionList...)
	list[i] = req.Extension
	list[i].LastHeartbeatTime = time.Now()
	m.setList(list)
	return &methods.UpdateExtensionBody{Res: new(types.UpdateExtensionResponse)}
}

func (m *extensionManager) UnregisterExtension(req *types.UnregisterExtension) soap.HasFault {
	i := m.find(req.ExtensionKey)
	if i < 0 {
		return &methods.UnregisterExtensionBody{Fault_: simulator.Fault("", &types.NotFound{})}
	}
	list := append(append([]types.Extension{}, m.ExtensionList[:i]...), m.ExtensionList[i+1:]...)
	m.setList(list)
	return &methods.UnregisterExtensionBody{Res: new(types.UnregisterExtensionResponse)}
}
