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

// NFC transfers that keep their bytes. vcsim's ImportVApp lease discards uploaded data, and
// VirtualMachine.ExportVm is missing. Here:
//   - ResourcePool/VirtualApp.ImportVApp (proxied, see proxy.go) runs vcsim's ImportVApp, then
//     registers the new VM's disk files for the lease, so a PUT or POST to a device URL stores
//     the body in the disk's file on the datastore (a temp directory);
//   - VirtualMachine.ExportVm (proxied) returns our own HttpNfcLease, ready, whose device URLs
//     serve each disk as vCenter does, a streamOptimized VMDK of the disk's data at its current
//     capacity, made by qemu-img of its -flat extent (zeros if empty) or of the sparse file
//     an import left;
//   - /nfc/<lease>/<file> is served here rather than by vcsim, counting bytes for /_sim/stats;
//     with -nfc-rate, each transfer (a GET's body, a PUT's or POST's) runs no faster than
//     that many bytes per second, as the ESXi host that carries it paces it (NFC is
//     single-threaded and synchronous; VMware gives its peak as 1.3 Gbps).
//
// A datastore file GET (/folder/...) then returns the same bytes as the upload.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// nfcServer maps lease ids to the local files their device URLs stand for.
type nfcServer struct {
	baseURL string // "https://*" with TLS, as vCenter writes; else http://host:port
	mu      sync.Mutex
	leases  map[string]map[string]string // lease id -> URL file name -> local path
}

var nfc = &nfcServer{leases: make(map[string]map[string]string)}

func (n *nfcServer) add(lease string, files map[string]string) {
	n.mu.Lock()
	n.leases[lease] = files
	n.mu.Unlock()
}

func (n *nfcServer) remove(lease string) {
	n.mu.Lock()
	delete(n.leases, lease)
	n.mu.Unlock()
}

func (n *nfcServer) file(lease, name string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	file, ok := n.leases[lease][name]
	return file, ok
}

func (n *nfcServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/nfc/"), "/")
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	file, ok := n.file(parts[0], parts[1])
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		f, err := os.Create(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		written, err := io.Copy(f, paced(r.Body))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		stats.addNFC(written, 0)
		if err != nil {
			log.Printf("nfc %s %s: %v after %d bytes", r.Method, file, err, written)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		log.Printf("nfc %s %s: %d bytes", r.Method, file, written)
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		f, err := os.Open(file)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			w.Header().Set("Content-Length", fmt.Sprint(fi.Size()))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		read, _ := io.Copy(w, paced(f))
		stats.addNFC(0, read)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// pacedReader reads r no faster than rate bytes per second on average since start.
type pacedReader struct {
	r     io.Reader
	rate  float64
	start time.Time
	done  int64
}

// paceSlice bounds each read, so the pace holds within a few milliseconds at any rate.
const paceSlice = 64 * 1024

// paced is r at the -nfc-rate of the moment, or r itself when unpaced.
func paced(r io.Reader) io.Reader {
	rate := emulation.nfcBytesPerSecond()
	if rate <= 0 {
		return r
	}
	return &pacedReader{r: r, rate: float64(rate), start: time.Now()}
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if len(b) > paceSlice {
		b = b[:paceSlice]
	}
	n, err := p.r.Read(b)
	p.done += int64(n)
	due := p.start.Add(time.Duration(float64(p.done) / p.rate * float64(time.Second)))
	if wait := time.Until(due); wait > 0 {
		time.Sleep(wait)
	}
	return n, err
}

// diskFiles returns, for each disk of the VM, the datastore path of its backing file and the
// local file that holds it.
func diskFiles(vm *simulator.VirtualMachine) (disks []*types.VirtualDisk, files []string) {
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		dc := datacenterOf(vm)
		if file, fault := localPath(&dc, b.GetVirtualDeviceFileBackingInfo().FileName); fault == nil {
			disks = append(disks, disk)
			files = append(files, file)
		}
	}
	return disks, files
}

type poolProxy struct{ proxy }

type vAppImporter interface {
	ImportVApp(*simulator.Context, *types.ImportVApp) soap.HasFault
}

func (p *poolProxy) ImportVApp(ctx *simulator.Context, req *types.ImportVApp) soap.HasFault {
	namingMu.Lock()
	defer namingMu.Unlock()
	req.This = p.target
	if spec, ok := req.Spec.(*types.VirtualMachineImportSpec); ok {
		_ = normalizeDisks(spec.ConfigSpec.DeviceChange, nil)
		settleDeviceChanges(nil, spec.ConfigSpec.DeviceChange)
	}
	refuse := func(fault types.BaseMethodFault) soap.HasFault {
		return &faultBody{simulator.Fault("", fault)}
	}
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		return uniquelyNamed(req.Folder, importName(req.Spec), refuse, func() soap.HasFault {
			return p.importWithNfc(ctx, obj, req)
		})
	})
}

func (p *poolProxy) importWithNfc(ctx *simulator.Context, obj mo.Reference, req *types.ImportVApp) soap.HasFault {
	res := obj.(vAppImporter).ImportVApp(ctx, req)
	body := res.(*methods.ImportVAppBody)
	if body.Res == nil {
		return res
	}
	lease := ctx.Session.Get(body.Res.Returnval).(*simulator.HttpNfcLease)
	vm := ctx.Map.Get(lease.Info.Entity).(*simulator.VirtualMachine)
	_, paths := diskFiles(vm)
	files := make(map[string]string)
	for _, file := range paths {
		files[path.Base(file)] = file
	}
	for i := range lease.Info.DeviceUrl {
		u := &lease.Info.DeviceUrl[i]
		u.Url = strings.Replace(u.Url, "https://*", nfc.baseURL, 1)
	}
	nfc.add(lease.Self.Value, files)
	return res
}

// importName is the name of the entity an import spec makes.
func importName(spec types.BaseImportSpec) string {
	switch s := spec.(type) {
	case *types.VirtualMachineImportSpec:
		return s.ConfigSpec.Name
	case *types.VirtualAppImportSpec:
		return s.Name
	}
	return ""
}

// streamOptimized returns a temporary streamOptimized VMDK of the disk file's data at the
// disk's capacity in bytes, as vCenter makes an export of the disk as it is now: of the
// -flat extent of a flat disk (zeros if it has none), or of the data of a hosted sparse file
// (an import), whatever capacity the file itself says (the disk may have grown since).
func streamOptimized(file string, capacity int64) (string, error) {
	raw, err := os.CreateTemp("", "export-*.raw")
	if err != nil {
		return "", err
	}
	defer os.Remove(raw.Name())
	if sparseVMDK(file) {
		err = qemuImg("convert", "-q", "-f", "vmdk", "-O", "raw", file, raw.Name())
	} else if flat, ferr := os.Open(strings.TrimSuffix(file, ".vmdk") + "-flat.vmdk"); ferr == nil {
		_, err = io.Copy(raw, flat)
		flat.Close()
	}
	if err == nil {
		err = raw.Truncate(capacity)
	}
	if cerr := raw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	out := strings.TrimSuffix(raw.Name(), ".raw") + temporaryExport
	if err := qemuImg("convert", "-q", "-f", "raw", "-O", "vmdk", "-o",
		"subformat=streamOptimized", raw.Name(), out); err != nil {
		os.Remove(out)
		return "", err
	}
	return out, nil
}

// qemuImg runs qemu-img with args; its output is in the error.
func qemuImg(args ...string) error {
	if msg, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img %s: %v: %s", args[0], err, msg)
	}
	return nil
}

const temporaryExport = "-stream.vmdk"

// removeTemporary deletes the exports streamOptimized made among files.
func removeTemporary(files map[string]string) {
	for _, file := range files {
		if strings.HasSuffix(file, temporaryExport) && strings.HasPrefix(file, os.TempDir()) {
			os.Remove(file)
		}
	}
}

// exportLease is the HttpNfcLease ExportVm returns.
type exportLease struct {
	mo.HttpNfcLease
}

func (p *vmProxy) ExportVm(ctx *simulator.Context, req *types.ExportVm) soap.HasFault {
	return p.with(ctx, func(obj mo.Reference) soap.HasFault {
		vm := obj.(*simulator.VirtualMachine)
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return &methods.ExportVmBody{Fault_: simulator.Fault("", &types.InvalidPowerState{
				RequestedState: types.VirtualMachinePowerStatePoweredOff,
				ExistingState:  vm.Runtime.PowerState,
			})}
		}
		if locked := lockedDisk(vm); locked != "" {
			return &methods.ExportVmBody{Fault_: lockedFault(locked)}
		}
		lease := &exportLease{}
		lease.Self = types.ManagedObjectReference{Type: "HttpNfcLease"}
		simulator.Map.Put(lease)
		info := &types.HttpNfcLeaseInfo{Lease: lease.Self, Entity: vm.Self, LeaseTimeout: 300}
		files := make(map[string]string)
		disks, paths := diskFiles(vm)
		devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
		for i, disk := range disks {
			name := fmt.Sprintf("disk-%d.vmdk", i)
			export, err := streamOptimized(paths[i], disk.CapacityInKB*1024)
			if err != nil {
				removeTemporary(files)
				return &methods.ExportVmBody{Fault_: simulator.Fault(err.Error(), &types.FileFault{File: paths[i]})}
			}
			files[name] = export
			var size int64
			if fi, err := os.Stat(export); err == nil {
				size = fi.Size()
			}
			info.DeviceUrl = append(info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
				Key:       fmt.Sprintf("/%s/%s", vm.Self.Value, devices.Name(disk)),
				ImportKey: fmt.Sprintf("/%s/%s", vm.Name, devices.Name(disk)),
				Url:       nfc.baseURL + "/nfc/" + lease.Self.Value + "/" + name,
				Disk:      types.NewBool(true),
				TargetId:  name,
				FileSize:  size,
			})
			info.TotalDiskCapacityInKB += disk.CapacityInKB
		}
		nfc.add(lease.Self.Value, files)
		simulator.Map.Update(lease, []types.PropertyChange{
			{Name: "info", Val: info},
			{Name: "state", Val: types.HttpNfcLeaseStateReady},
			{Name: "initializeProgress", Val: int32(100)},
		})
		return &methods.ExportVmBody{Res: &types.ExportVmResponse{Returnval: lease.Self}}
	})
}

func (l *exportLease) end(state types.HttpNfcLeaseState) {
	nfc.mu.Lock()
	files := nfc.leases[l.Self.Value]
	nfc.mu.Unlock()
	removeTemporary(files)
	nfc.remove(l.Self.Value)
	simulator.Map.Update(l, []types.PropertyChange{{Name: "state", Val: state}})
	simulator.Map.Remove(l.Self)
}

func (l *exportLease) HttpNfcLeaseComplete(req *types.HttpNfcLeaseComplete) soap.HasFault {
	l.end(types.HttpNfcLeaseStateDone)
	return &methods.HttpNfcLeaseCompleteBody{Res: new(types.HttpNfcLeaseCompleteResponse)}
}

func (l *exportLease) HttpNfcLeaseAbort(req *types.HttpNfcLeaseAbort) soap.HasFault {
	l.end(types.HttpNfcLeaseStateError)
	return &methods.HttpNfcLeaseAbortBody{Res: new(types.HttpNfcLeaseAbortResponse)}
}

func (l *exportLease) HttpNfcLeaseProgress(req *types.HttpNfcLeaseProgress) soap.HasFault {
	simulator.Map.Update(l, []types.PropertyChange{{Name: "transferProgress", Val: req.Percent}})
	return &methods.HttpNfcLeaseProgressBody{Res: new(types.HttpNfcLeaseProgressResponse)}
}
