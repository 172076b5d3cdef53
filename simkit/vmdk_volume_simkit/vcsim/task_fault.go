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

// Injected task failures, for the fault suite (vmdk_volume_simkit/faults.py). A *_Task call
// carrying the header X-Vmdk-Sim-Fail-Task is not dispatched: the object named by its _this
// gets a new task that ends in error (SystemError) without doing anything, as a vCenter task
// that fails and rolls back would. The fault proxy decides which call gets the header.
package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const failTaskHeader = "X-Vmdk-Sim-Fail-Task"

// failTask answers a *_Task call marked with failTaskHeader with a failed task, and reports
// whether it did (false: the call is not marked, not a task, or names no known object).
func failTask(w http.ResponseWriter, r *http.Request, method string, body []byte) bool {
	if r.Header.Get(failTaskHeader) == "" || !strings.HasSuffix(method, "_Task") {
		return false
	}
	m := thisElement.FindSubmatch(body)
	if m == nil {
		return false
	}
	obj, ok := simulator.Map.Get(types.ManagedObjectReference{Type: string(m[2]), Value: string(m[4])}).(mo.Reference)
	if !ok || obj == nil {
		return false
	}
	ref := failedTask(obj, method, &types.SystemError{Reason: "task failure injected by the fault proxy"})
	response := []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`+
		`<soapenv:Body><%sResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval>`+
		`</%sResponse></soapenv:Body></soapenv:Envelope>`, method, ref.Value, method))
	settleReturnedTasks(response)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(response)
	return true
}
