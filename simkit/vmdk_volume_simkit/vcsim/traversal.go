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

// PropertyCollector.RetrievePropertiesEx that honours TraversalSpec.type, as vCenter does: a
// traversal spec applies only to objects of its type (or a subtype). vcsim 0.24.2 follows
// every spec from every object, so oslo.vmware's recursive traversal (vim_util.get_objects,
// which Cinder's in-tree driver uses at start) loops ResourcePool <-> VirtualMachine until the
// stack overflows. The proxy (see proxy.go) selects the objects itself, then lets vcsim
// collect their properties from an object set without traversal.
//
// Property paths with a key, like config.extraConfig["cinder.volume.id"], are read as vCenter
// reads them: the element of the array whose key it is, and no property at all if there is
// none. vcsim 0.24.2 reports such paths as InvalidProperty.
package main

import (
	"reflect"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type collectorProxy struct{ proxy }

type propertyRetriever interface {
	RetrievePropertiesEx(*simulator.Context, *types.RetrievePropertiesEx) soap.HasFault
}

func (p *collectorProxy) RetrievePropertiesEx(ctx *simulator.Context, req *types.RetrievePropertiesEx) soap.HasFault {
	collector := lookup(ctx, p.target)
	if collector == nil {
		return &faultBody{simulator.Fault("", &types.ManagedObjectNotFound{Obj: p.target})}
	}
	keyed := map[string][]string{} // managed type -> keyed paths asked of it
	for i := range req.SpecSet {
		spec := &req.SpecSet[i]
		spec.ObjectSet = selectObjects(ctx, spec.ObjectSet)
		for j := range spec.PropSet {
			plain, withKey := splitKeyed(spec.PropSet[j].PathSet)
			spec.PropSet[j].PathSet = plain
			keyed[spec.PropSet[j].Type] = append(keyed[spec.PropSet[j].Type], withKey...)
		}
	}
	req.This = p.target
	ctx.Caller = &p.target
	var res soap.HasFault
	simulator.Map.WithLock(collector, func() {
		res = collector.(propertyRetriever).RetrievePropertiesEx(ctx, req)
	})
	if body, ok := res.(*methods.RetrievePropertiesExBody); ok && body.Res != nil && body.Res.Returnval != nil {
		addKeyed(ctx, body.Res.Returnval.Objects, keyed)
	}
	return res
}

var keyedPath = regexp.MustCompile(`^([\w.]+)\["([^"]*)"\]$`)

func splitKeyed(paths []string) (plain, withKey []string) {
	for _, p := range paths {
		if keyedPath.MatchString(p) {
			withKey = append(withKey, p)
		} else {
			plain = append(plain, p)
		}
	}
	return plain, withKey
}

// addKeyed adds to each object the keyed paths asked of its type that it has a value for.
func addKeyed(ctx *simulator.Context, objects []types.ObjectContent, keyed map[string][]string) {
	for i := range objects {
		obj := lookup(ctx, objects[i].Obj)
		if obj == nil {
			continue
		}
		for kind, paths := range keyed {
			if !isA(obj, kind) {
				continue
			}
			for _, p := range paths {
				if val := keyedValue(obj, p); val != nil {
					objects[i].PropSet = append(objects[i].PropSet,
						types.DynamicProperty{Name: p, Val: val})
				}
			}
		}
	}
}

// keyedValue is the element of the array at path's base whose Key is path's key, or nil.
func keyedValue(obj mo.Reference, path string) types.AnyType {
	m := keyedPath.FindStringSubmatch(path)
	v, ok := valueAt(obj, m[1])
	if !ok || v.Kind() != reflect.Slice {
		return nil
	}
	for i := 0; i < v.Len(); i++ {
		elem := v.Index(i)
		for elem.Kind() == reflect.Ptr || elem.Kind() == reflect.Interface {
			if elem.IsNil() {
				break
			}
			elem = elem.Elem()
		}
		if elem.Kind() != reflect.Struct {
			continue
		}
		if key := elem.FieldByName("Key"); key.IsValid() && key.Kind() == reflect.String &&
			key.String() == m[2] {
			return v.Index(i).Interface()
		}
	}
	return nil
}

// lookup finds an object of the caller's session (a view, a collector) or of the inventory.
func lookup(ctx *simulator.Context, ref types.ManagedObjectReference) mo.Reference {
	if ctx.Session != nil {
		return ctx.Session.Get(ref)
	}
	return ctx.Map.Get(ref)
}

// selectObjects expands object specs into one spec per selected object, without traversal.
// A starting object that does not exist is left as it is, for vcsim to report; objects
// reached by traversal that are gone are left out.
func selectObjects(ctx *simulator.Context, specs []types.ObjectSpec) []types.ObjectSpec {
	var out []types.ObjectSpec
	for _, o := range specs {
		root := lookup(ctx, o.Obj)
		if root == nil || o.SelectSet == nil {
			out = append(out, o)
			continue
		}
		s := selection{ctx: ctx, named: map[string]*types.TraversalSpec{},
			seen: map[types.ManagedObjectReference]bool{}, followed: map[string]bool{}}
		if o.Skip == nil || !*o.Skip {
			s.add(o.Obj)
		}
		s.walk(root, o.SelectSet)
		for _, ref := range s.refs {
			out = append(out, types.ObjectSpec{Obj: ref, Skip: types.NewBool(false)})
		}
	}
	return out
}

type selection struct {
	ctx      *simulator.Context
	named    map[string]*types.TraversalSpec
	seen     map[types.ManagedObjectReference]bool
	followed map[string]bool // object + spec already followed
	refs     []types.ManagedObjectReference
}

func (s *selection) add(ref types.ManagedObjectReference) {
	if !s.seen[ref] {
		s.seen[ref] = true
		s.refs = append(s.refs, ref)
	}
}

// walk follows the specs of set that apply to obj's type, as vCenter does.
func (s *selection) walk(obj mo.Reference, set []types.BaseSelectionSpec) {
	for _, ss := range set {
		if ts, ok := ss.(*types.TraversalSpec); ok && ts.Name != "" {
			s.named[ts.Name] = ts
		}
	}
	for _, ss := range set {
		ts, ok := ss.(*types.TraversalSpec)
		if !ok {
			ts = s.named[ss.GetSelectionSpec().Name]
		}
		if ts == nil || !isA(obj, ts.Type) {
			continue
		}
		key := obj.Reference().String() + "|" + ts.Name + "|" + ts.Path
		if s.followed[key] {
			continue
		}
		s.followed[key] = true
		for _, ref := range refsAt(obj, ts.Path) {
			next := lookup(s.ctx, ref)
			if next == nil { // gone (a view may still list it): not selected, as vCenter
				continue
			}
			if ts.Skip == nil || !*ts.Skip {
				s.add(ref)
			}
			s.walk(next, ts.SelectSet)
		}
	}
}

// isA tells whether obj is of the managed type kind or a subtype (vcsim's types embed their
// base types).
func isA(obj mo.Reference, kind string) bool {
	if kind == "" || obj.Reference().Type == kind {
		return true
	}
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	field, ok := t.FieldByName(kind)
	return ok && field.Anonymous
}

// valueAt is the value of obj's property path (false if it has none).
func valueAt(obj mo.Reference, path string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	for _, name := range strings.Split(path, ".") {
		for v.Kind() == reflect.Ptr || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return v, false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct || name == "" {
			return v, false
		}
		v = v.FieldByName(strings.ToUpper(name[:1]) + name[1:])
		if !v.IsValid() {
			return v, false
		}
	}
	return v, true
}

// refsAt returns the managed object references held by obj's property path.
func refsAt(obj mo.Reference, path string) []types.ManagedObjectReference {
	v, ok := valueAt(obj, path)
	if !ok {
		return nil
	}
	switch f := v.Interface().(type) {
	case types.ManagedObjectReference:
		return []types.ManagedObjectReference{f}
	case *types.ManagedObjectReference:
		if f != nil {
			return []types.ManagedObjectReference{*f}
		}
	case []types.ManagedObjectReference:
		return f
	}
	return nil
}
