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

// Proxies for methods vcsim lacks on objects we cannot replace. vcsim dispatches a SOAP call
// by reflection on the object registered under the request's _this, so a missing method can
// be added by registering our own type under that moref. That works for some singletons only:
// VirtualMachine, VirtualMachineSnapshot, Folder, ResourcePool and SearchIndex objects are
// type-asserted to vcsim's own types throughout the simulator, so replacing them would break it. For the methods listed in
// proxiedMethods, the handler rewrites the request's _this from {T, id} to {VmdkSimT, id}, and
// the proxy registered under that moref (created on first use) does the work on the real
// object, with vcsim's session, locking, encoding and faults.
package main

import (
	"regexp"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const proxyTypePrefix = "VmdkSim"

// proxiedMethods maps each proxied SOAP method to the managed object types it is served for.
var proxiedMethods = map[string][]string{
	"FindAllByUuid":   {"SearchIndex"},
	"CreateVM_Task":   {"Folder"},
	"ExportVm":        {"VirtualMachine"},
	"ReconfigVM_Task": {"VirtualMachine"},
	"CloneVM_Task":    {"VirtualMachine"},
	"RelocateVM_Task": {"VirtualMachine"},
	"Destroy_Task":    {"VirtualMachine"},
	"PowerOnVM_Task":  {"VirtualMachine"},
	"ImportVApp":      {"ResourcePool", "VirtualApp"},

	"CreateSnapshot_Task":   {"VirtualMachine"},
	"RevertToSnapshot_Task": {"VirtualMachineSnapshot"},
	"RemoveSnapshot_Task":   {"VirtualMachineSnapshot"},

	"RetrievePropertiesEx": {"PropertyCollector"},

	"MoveIntoFolder_Task": {"StoragePod"},
}

// newProxy creates the proxy for an object of the given (real) type.
func newProxy(target types.ManagedObjectReference) mo.Reference {
	p := proxy{target: target}
	p.Self = types.ManagedObjectReference{Type: proxyTypePrefix + target.Type, Value: target.Value}
	switch target.Type {
	case "SearchIndex":
		return &searchIndexProxy{p}
	case "VirtualMachine":
		return &vmProxy{p}
	case "VirtualMachineSnapshot":
		return &snapshotProxy{p}
	case "Folder":
		return &folderProxy{p}
	case "PropertyCollector":
		return &collectorProxy{p}
	case "StoragePod":
		return &podProxy{p}
	default: // ResourcePool, VirtualApp
		return &poolProxy{p}
	}
}

var thisElement = regexp.MustCompile(`(<(?:[\w.-]+:)?_this\b[^>]*?\btype=")([^"]+)("[^>]*>)([^<]*)<`)

var proxiesMu sync.Mutex

// routeToProxy rewrites the _this of a proxied method call to its proxy, creating the proxy.
func routeToProxy(method string, body []byte) []byte {
	kinds, ok := proxiedMethods[method]
	if !ok {
		return body
	}
	m := thisElement.FindSubmatchIndex(body)
	if m == nil {
		return body
	}
	target := types.ManagedObjectReference{Type: string(body[m[4]:m[5]]), Value: string(body[m[8]:m[9]])}
	for _, kind := range kinds {
		if kind != target.Type {
			continue
		}
		proxiesMu.Lock()
		p := newProxy(target)
		if simulator.Map.Get(p.Reference()) == nil {
			simulator.Map.Put(p)
		}
		proxiesMu.Unlock()
		out := append([]byte{}, body[:m[4]]...)
		out = append(out, proxyTypePrefix...)
		return append(out, body[m[4]:]...)
	}
	return body
}

// proxy is the part common to all proxies: the object it stands for. It embeds a neutral mo
// type first, as vcsim requires of every registered object (it scans them all by mo type).
type proxy struct {
	mo.ExtensibleManagedObject
	target types.ManagedObjectReference
}

// with runs f on the real object, locked and seen as the caller, as vcsim would have.
func (p *proxy) with(ctx *simulator.Context, f func(obj mo.Reference) soap.HasFault) soap.HasFault {
	obj := ctx.Map.Get(p.target)
	if obj == nil {
		return &faultBody{simulator.Fault("", &types.ManagedObjectNotFound{Obj: p.target})}
	}
	ctx.Caller = &p.target
	var res soap.HasFault
	simulator.Map.WithLock(obj, func() { res = f(obj) })
	return res
}

// faultBody is a SOAP body that carries only a fault.
type faultBody struct {
	Fault_ *soap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *faultBody) Fault() *soap.Fault { return b.Fault_ }
