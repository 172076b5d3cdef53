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

// Command vmdk-vcsim serves a simulated vCenter for the tests, demos and benchmarks of
// vmdk-volume. It is govmomi 0.24.2's simulator (Debian's golang-github-vmware-govmomi-dev)
// plus what that version lacks for our driver: the gaps are filled in the other files of this
// package, each named after what it emulates. This file parses the flags, builds the model,
// starts the listener and prints the one ready line the Python launcher waits for.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	listen         string
	tls            bool
	certDir        string
	username       string
	password       string
	datacenters    int
	clusters       int
	hosts          int
	standalone     int
	datastores     int
	vms            int
	datastoreTypes []string
	wsdlDir        string
	taskMS         int
	latencyMS      int
	nfcRate        int64
}

func parseFlags() options {
	var o options
	var types string
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on")
	flag.BoolVar(&o.tls, "tls", true, "serve HTTPS with a self-signed certificate")
	flag.StringVar(&o.certDir, "cert-dir", "", "with TLS, write the certificate to DIR/server.pem")
	flag.StringVar(&o.username, "username", "", "the only user name accepted (any if unset)")
	flag.StringVar(&o.password, "password", "", "the password of -username")
	flag.IntVar(&o.datacenters, "datacenters", 1, "datacenters")
	flag.IntVar(&o.clusters, "clusters", 1, "clusters per datacenter")
	flag.IntVar(&o.hosts, "hosts", 3, "hosts per cluster")
	flag.IntVar(&o.standalone, "standalone-hosts", 0, "standalone hosts per datacenter")
	flag.IntVar(&o.datastores, "datastores", 2, "datastores per datacenter")
	flag.IntVar(&o.vms, "vms", 2, "virtual machines per host")
	flag.StringVar(&types, "datastore-types", "VMFS,NFS,vsan", "summary.type of datastore i is LIST[i % len]")
	flag.StringVar(&o.wsdlDir, "wsdl-dir", "", "serve the files of DIR at /sdk/<file>")
	flag.IntVar(&o.taskMS, "task-ms", 0, "how long every task reports running")
	flag.IntVar(&o.latencyMS, "latency-ms", 0, "delay added to every SOAP call")
	flag.Int64Var(&o.nfcRate, "nfc-rate", 0, "bytes per second of each NFC transfer, as an ESXi host's NFC link paces it (0: unpaced)")
	flag.Parse()
	for _, t := range strings.Split(types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.datastoreTypes = append(o.datastoreTypes, t)
		}
	}
	if len(o.datastoreTypes) == 0 {
		log.Fatal("-datastore-types is empty")
	}
	if o.nfcRate < 0 {
		log.Fatalf("-nfc-rate %d is negative (bytes per second; 0: unpaced)", o.nfcRate)
	}
	if o.datastores < 1 {
		log.Fatal("-datastores must be at least 1 (the model's VMs need one)")
	}
	return o
}

func main() {
	o := parseFlags()
	started := time.Now()

	emulation.set(o.taskMS, o.latencyMS, o.nfcRate)

	model, err := buildModel(o)
	if err != nil {
		log.Fatalf("building the model: %v", err)
	}

	listen := &url.URL{Host: o.listen}
	if o.username != "" {
		listen.User = url.UserPassword(o.username, o.password)
	}
	model.Service.Listen = listen

	var certFile string
	if o.tls {
		model.Service.TLS, certFile, err = selfSignedTLS(o.listen, o.certDir)
		if err != nil {
			log.Fatalf("creating the TLS certificate: %v", err)
		}
	}

	model.Service.RegisterSDK(pbmRegistry())
	server := model.Service.NewServer()

	base := &url.URL{Scheme: server.URL.Scheme, Host: server.Listener.Addr().String()}
	nfc.baseURL = base.String()
	if o.tls {
		// vCenter, ESX and stock vcsim write "*" for the address the client connected to.
		nfc.baseURL = "https://*"
	}
	// Our handler goes in front of vcsim's mux before the ready line, so before any request.
	server.Config.Handler = newHandler(server.Config.Handler, o.wsdlDir)

	addr := server.Listener.Addr().(*net.TCPAddr)
	ready, _ := json.Marshal(struct {
		URL    string `json:"url"`
		Host   string `json:"host"`
		Port   int    `json:"port"`
		Cert   string `json:"cert"`
		PbmURL string `json:"pbm_url"`
	}{base.String() + "/sdk", addr.IP.String(), addr.Port, certFile, base.String() + "/pbm"})
	fmt.Fprintln(os.Stdout, string(ready))
	_ = os.Stdout.Sync()
	log.Printf("vmdk-vcsim ready in %s at %s", time.Since(started).Round(time.Millisecond), base)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	log.Print("vmdk-vcsim stopping")
	// Not server.Close(): it would wait for long polls (WaitForUpdatesEx) to end.
	model.Remove()
}
