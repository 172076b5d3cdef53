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

// The HTTP handler in front of vcsim's mux. vcsim 0.24.2 offers no hook around its SOAP
// dispatch, so this wrapper is where we count SOAP calls per method, add the emulated latency,
// rewrite what vcsim's decoder rejects (naive xsd:dateTime), route the methods vcsim lacks to
// our proxies, settle returned tasks (entity, emulated duration), report hosts' maintenance mode (hosts.go), date the VMs a call made
// (create_date.go), fail the tasks the fault proxy marks (task_fault.go), and serve what vcsim
// does not serve at all: the admin endpoints (/_sim/), NFC transfers that keep their bytes
// (/nfc/) and the WSDL files (/sdk/<file>).
package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const sessionCookie = "vmware_soap_session"

type handler struct {
	sim     http.Handler
	wsdlDir string
}

func newHandler(sim http.Handler, wsdlDir string) http.Handler {
	return &handler{sim: sim, wsdlDir: wsdlDir}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_sim/"):
		serveAdmin(w, r)
	case strings.HasPrefix(p, "/nfc/"):
		nfc.ServeHTTP(w, r)
	case r.Method == http.MethodPost && (strings.HasPrefix(p, "/sdk") || strings.HasPrefix(p, "/pbm")):
		h.serveSOAP(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/sdk/") && h.wsdlFile(p) != "":
		http.ServeFile(w, r, h.wsdlFile(p))
	default:
		h.sim.ServeHTTP(w, r)
	}
}

// wsdlFile returns the -wsdl-dir file that GET /sdk/<name> asks for, or "".
func (h *handler) wsdlFile(urlPath string) string {
	if h.wsdlDir == "" {
		return ""
	}
	name := strings.TrimPrefix(urlPath, "/sdk/")
	if name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		return ""
	}
	file := filepath.Join(h.wsdlDir, name)
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return file
}

func (h *handler) serveSOAP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	method := soapMethod(body)
	stats.countCall(method)
	if d := emulation.latency(); d > 0 {
		time.Sleep(d)
	}

	if failTask(w, r, method, body) {
		return
	}
	body = zoneNaiveDateTimes(body)
	body = routeToProxy(method, body)
	headerSessionToCookie(r, body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	rec := &responseRecorder{header: w.Header(), status: http.StatusOK}
	h.sim.ServeHTTP(rec, r)
	stampCreateDates()
	if collectorMethods[method] && rec.status == http.StatusOK {
		collectors.follow(method, body, rec.body.Bytes())
	}
	if strings.HasSuffix(method, "_Task") && rec.status == http.StatusOK {
		settleReturnedTasks(rec.body.Bytes())
		reportMaintenance(method, body)
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// soapMethod returns the name of the first element in the SOAP Body (the method called).
func soapMethod(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return "unknown"
		}
		if start, ok := tok.(xml.StartElement); ok {
			if inBody {
				return start.Name.Local
			}
			inBody = start.Name.Local == "Body"
		}
	}
}

// headerSessionToCookie lets a request that names its session in the SOAP header
// (<vcSessionCookie>, as clients of /pbm do) use it: vcsim only reads the HTTP cookie.
func headerSessionToCookie(r *http.Request, body []byte) {
	if _, err := r.Cookie(sessionCookie); err == nil {
		return
	}
	start := bytes.Index(body, []byte("<vcSessionCookie>"))
	end := bytes.Index(body, []byte("</vcSessionCookie>"))
	if start < 0 || end < start {
		return
	}
	value := string(body[start+len("<vcSessionCookie>") : end])
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
}

// responseRecorder holds vcsim's response back until the tasks it returns are stretched
// (a client must never see a task complete before it was made to look running).
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) WriteHeader(status int)      { r.status = status }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
