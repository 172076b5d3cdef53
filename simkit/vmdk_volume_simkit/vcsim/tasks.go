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

// Task duration. vcsim runs every task to completion before the call that started it returns,
// so code that waits badly for tasks looks fast. With -task-ms N (or /_sim/config), each task a
// *_Task method returns is rolled back to "running" before the client sees it, reports
// progress, and reaches its real final state (success and result, or error) N ms later. The
// changes go through simulator.Map.Update so the PropertyCollector (RetrievePropertiesEx and
// WaitForUpdatesEx) sees them like any other property change.
// Tasks of managers (VirtualDiskManager...) also lose the manager vcsim puts in info.entity.
package main

import (
	"regexp"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

var returnedTask = regexp.MustCompile(`<returnval type="Task">([^<]+)</returnval>`)

// progressSteps is how many times a stretched task reports progress before it ends.
const progressSteps = 4

// settleReturnedTasks fixes the tasks named in a *_Task response: a task of a manager (such
// as VirtualDiskManager) names no entity, as on vCenter (vcsim names the manager, which typed
// clients reject since TaskInfo.entity is a ManagedEntity); a task failed with FileLocked
// gets vCenter's message (locks.go); and, with an emulated duration,
// the task is made to run for that long.
func settleReturnedTasks(response []byte) {
	duration := emulation.taskDuration()
	for _, m := range returnedTask.FindAllSubmatch(response, -1) {
		ref := types.ManagedObjectReference{Type: "Task", Value: string(m[1])}
		task, ok := simulator.Map.Get(ref).(*simulator.Task)
		if !ok {
			continue
		}
		localizeTaskError(task)
		if e := task.Info.Entity; e != nil {
			if _, ok := simulator.Map.Get(*e).(mo.Entity); !ok {
				simulator.Map.WithLock(task, func() {
					simulator.Map.Update(task, []types.PropertyChange{
						{Name: "info.entity", Val: nil},
						{Name: "info.entityName", Val: ""},
					})
				})
			}
		}
		if duration <= 0 {
			continue
		}
		final := task.Info
		simulator.Map.WithLock(task, func() {
			simulator.Map.Update(task, []types.PropertyChange{
				{Name: "info.state", Val: types.TaskInfoStateRunning},
				{Name: "info.progress", Val: int32(0)},
				{Name: "info.completeTime", Val: nil},
				{Name: "info.result", Val: nil},
				{Name: "info.error", Val: nil},
			})
		})
		go finishTask(task, final, duration)
	}
}

func finishTask(task *simulator.Task, final types.TaskInfo, duration time.Duration) {
	step := duration / progressSteps
	for i := 1; i < progressSteps; i++ {
		time.Sleep(step)
		progress := int32(100 * i / progressSteps)
		simulator.Map.WithLock(task, func() {
			simulator.Map.Update(task, []types.PropertyChange{{Name: "info.progress", Val: progress}})
		})
	}
	time.Sleep(duration - step*(progressSteps-1))

	var fault interface{}
	if final.Error != nil {
		fault = *final.Error
	}
	changes := []types.PropertyChange{
		{Name: "info.completeTime", Val: time.Now()},
		{Name: "info.state", Val: final.State},
		{Name: "info.result", Val: final.Result},
		{Name: "info.error", Val: fault},
	}
	if final.State == types.TaskInfoStateSuccess {
		changes = append(changes, types.PropertyChange{Name: "info.progress", Val: int32(100)})
	}
	simulator.Map.WithLock(task, func() { simulator.Map.Update(task, changes) })
}
