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

// Call statistics, run-time emulation settings and inventory changes, served on the admin
// endpoints /_sim/stats, /_sim/stats/reset, /_sim/config, /_sim/datastore, /_sim/pod
// (storage_pods.go), /_sim/policy and /_sim/privileges (and /_sim/collectors: collectors.go).
// vcsim counts nothing and fixes its delays at start-up; tests and benchmarks need to see how
// many SOAP calls (per method) and NFC bytes a driver operation cost, to change the emulated
// task duration, latency and NFC rate while running, to make a datastore unmounted from some
// hosts, in maintenance or inaccessible, and to make a storage policy match only some
// datastores.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

type callStats struct {
	mu            sync.Mutex
	calls         map[string]int64
	total         int64
	nfcUploaded   int64
	nfcDownloaded int64
}

var stats = &callStats{calls: make(map[string]int64)}

func (s *callStats) countCall(method string) {
	s.mu.Lock()
	s.calls[method]++
	s.total++
	s.mu.Unlock()
}

func (s *callStats) addNFC(uploaded, downloaded int64) {
	s.mu.Lock()
	s.nfcUploaded += uploaded
	s.nfcDownloaded += downloaded
	s.mu.Unlock()
}

func (s *callStats) snapshot() map[string]interface{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	calls := make(map[string]int64, len(s.calls))
	for k, v := range s.calls {
		calls[k] = v
	}
	return map[string]interface{}{
		"calls":                calls,
		"total_calls":          s.total,
		"nfc_bytes_uploaded":   s.nfcUploaded,
		"nfc_bytes_downloaded": s.nfcDownloaded,
	}
}

func (s *callStats) reset() {
	s.mu.Lock()
	s.calls = make(map[string]int64)
	s.total, s.nfcUploaded, s.nfcDownloaded = 0, 0, 0
	s.mu.Unlock()
}

// emulationSettings holds -task-ms, -latency-ms and -nfc-rate, changeable through
// /_sim/config.
type emulationSettings struct {
	taskMS    int64
	latencyMS int64
	nfcRate   int64 // bytes per second of each NFC transfer; 0: unpaced
}

var emulation = &emulationSettings{}

func (e *emulationSettings) set(taskMS, latencyMS int, nfcRate int64) {
	atomic.StoreInt64(&e.taskMS, int64(taskMS))
	atomic.StoreInt64(&e.latencyMS, int64(latencyMS))
	atomic.StoreInt64(&e.nfcRate, nfcRate)
}

func (e *emulationSettings) taskDuration() time.Duration {
	return time.Duration(atomic.LoadInt64(&e.taskMS)) * time.Millisecond
}

func (e *emulationSettings) latency() time.Duration {
	return time.Duration(atomic.LoadInt64(&e.latencyMS)) * time.Millisecond
}

func (e *emulationSettings) nfcBytesPerSecond() int64 {
	return atomic.LoadInt64(&e.nfcRate)
}

func serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_sim/stats" && r.Method == http.MethodGet:
		writeJSON(w, stats.snapshot())
	case r.URL.Path == "/_sim/collectors" && r.Method == http.MethodGet:
		writeJSON(w, collectors.count())
	case r.URL.Path == "/_sim/stats/reset" && r.Method == http.MethodPost:
		stats.reset()
		writeJSON(w, stats.snapshot())
	case r.URL.Path == "/_sim/config" && r.Method == http.MethodPost:
		var req struct {
			TaskMS    *int64 `json:"task_ms"`
			LatencyMS *int64 `json:"latency_ms"`
			NfcRate   *int64 `json:"nfc_rate"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.TaskMS != nil {
			atomic.StoreInt64(&emulation.taskMS, *req.TaskMS)
		}
		if req.LatencyMS != nil {
			atomic.StoreInt64(&emulation.latencyMS, *req.LatencyMS)
		}
		if req.NfcRate != nil {
			if *req.NfcRate < 0 {
				http.Error(w, fmt.Sprintf("nfc_rate %d is negative (bytes per second; 0: "+
					"unpaced)", *req.NfcRate), http.StatusBadRequest)
				return
			}
			atomic.StoreInt64(&emulation.nfcRate, *req.NfcRate)
		}
		writeJSON(w, map[string]int64{
			"task_ms":    atomic.LoadInt64(&emulation.taskMS),
			"latency_ms": atomic.LoadInt64(&emulation.latencyMS),
			"nfc_rate":   atomic.LoadInt64(&emulation.nfcRate),
		})
	case r.URL.Path == "/_sim/datastore" && r.Method == http.MethodPost:
		var req datastoreChange
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := changeDatastore(req); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, req)
	case r.URL.Path == "/_sim/pod" && r.Method == http.MethodPost:
		var req podChange
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := makePod(req); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, req)
	case r.URL.Path == "/_sim/policy" && r.Method == http.MethodPost:
		var req policyChange
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := restrictPolicy(req); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, req)
	case r.URL.Path == "/_sim/privileges" && r.Method == http.MethodPost:
		var req privilegeChange
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		denyPrivileges(req)
		writeJSON(w, req)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
