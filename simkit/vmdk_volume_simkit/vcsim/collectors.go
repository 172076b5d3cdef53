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

// The property collectors and filters sessions hold, counted on /_sim/collectors.
// vCenter keeps a collector made by CreatePropertyCollector and a filter made by CreateFilter
// until DestroyPropertyCollector (which destroys its filters too) or DestroyPropertyFilter,
// or until the session that made them ends; a client that forgets them makes vCenter hold
// more and more. vcsim keeps them in each session's registry, which it does not expose, so
// they are followed here from the calls that make and destroy them, and those of sessions
// that ended are dropped when counted (vcsim names them "session[<key>]...").
package main

import (
	"regexp"
	"sync"

	"github.com/vmware/govmomi/simulator"
)

var (
	returnedRef  = regexp.MustCompile(`<returnval type="(?:PropertyCollector|PropertyFilter)">([^<]+)</returnval>`)
	soapFault    = regexp.MustCompile(`<(?:[\w.-]+:)?Fault\b`)
	sessionOfRef = regexp.MustCompile(`^session\[([^\]]+)\]`)
)

type collectorWatch struct {
	mu         sync.Mutex
	collectors map[string]bool   // collectors made by CreatePropertyCollector
	filters    map[string]string // filter -> the collector it was made on
}

var collectors = &collectorWatch{collectors: map[string]bool{}, filters: map[string]string{}}

// follow records what a successful call among the four made or destroyed.
func (c *collectorWatch) follow(method string, request, response []byte) {
	if soapFault.Match(response) {
		return
	}
	var this, made string
	if m := thisElement.FindSubmatch(request); m != nil {
		this = string(m[4])
	}
	if m := returnedRef.FindSubmatch(response); m != nil {
		made = string(m[1])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch method {
	case "CreatePropertyCollector":
		if made != "" {
			c.collectors[made] = true
		}
	case "CreateFilter":
		if made != "" {
			c.filters[made] = this
		}
	case "DestroyPropertyFilter":
		delete(c.filters, this)
	case "DestroyPropertyCollector":
		delete(c.collectors, this)
		for filter, collector := range c.filters {
			if collector == this {
				delete(c.filters, filter)
			}
		}
	}
}

// count returns the collectors and filters of the sessions alive, forgetting the others.
func (c *collectorWatch) count() map[string]int {
	alive := liveSessions()
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref := range c.collectors {
		if !alive[sessionOf(ref)] {
			delete(c.collectors, ref)
		}
	}
	for ref := range c.filters {
		if !alive[sessionOf(ref)] {
			delete(c.filters, ref)
		}
	}
	return map[string]int{"collectors": len(c.collectors), "filters": len(c.filters)}
}

func sessionOf(ref string) string {
	if m := sessionOfRef.FindStringSubmatch(ref); m != nil {
		return m[1]
	}
	return ""
}

// liveSessions returns the keys of the sessions vcsim holds (its SessionManager's
// sessionList, as a session reads it).
func liveSessions() map[string]bool {
	reader := &simulator.Session{Registry: simulator.NewRegistry()}
	manager := reader.Get(simulator.Map.SessionManager().Reference()).(*simulator.SessionManager)
	alive := map[string]bool{}
	for _, session := range manager.SessionList {
		alive[session.Key] = true
	}
	return alive
}

// collectorMethods are the calls that make or destroy collectors and filters.
var collectorMethods = map[string]bool{"CreatePropertyCollector": true, "CreateFilter": true,
	"DestroyPropertyCollector": true, "DestroyPropertyFilter": true}
