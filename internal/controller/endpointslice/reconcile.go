package endpointslice

import (
	"maps"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/internal/controller/endpoints/servicepods"
)

// plan is the set of writes that bring a Service's slices in line.
type plan struct {
	create, update, delete []*discoveryv1.EndpointSlice
}

func (p *plan) add(o plan) {
	p.create = append(p.create, o.create...)
	p.update = append(p.update, o.update...)
	p.delete = append(p.delete, o.delete...)
}

// desiredGroup is the endpoints that share one set of ports.
type desiredGroup struct {
	ports []discoveryv1.EndpointPort
	byKey map[string]*discoveryv1.Endpoint
	// order is the keys left after existing slices took theirs, sorted
	// once so that a plan is a function of its inputs; pos is the next.
	order []string
	pos   int
}

// pop takes the next endpoint still to place.
func (g *desiredGroup) pop() (*discoveryv1.Endpoint, bool) {
	if g.order == nil {
		g.order = slices.Sorted(maps.Keys(g.byKey))
	}
	for g.pos < len(g.order) {
		k := g.order[g.pos]
		g.pos++
		if ep, ok := g.byKey[k]; ok {
			delete(g.byKey, k)
			return ep, true
		}
	}
	return nil, false
}

// reconcile plans the slice writes for svc over the pods its selector
// matches and the slices this controller manages for it. Pure: it reads
// nothing but its arguments and writes nothing.
func reconcile(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, maxPerSlice int) plan {
	var p plan
	types := addressTypes(svc)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !slices.Contains(types, s.AddressType) {
			p.delete = append(p.delete, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	for _, t := range types {
		p.add(reconcileType(svc, pods, byType[t], t, maxPerSlice))
	}
	return p
}

func reconcileType(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, addrType discoveryv1.AddressType, maxPerSlice int) plan {
	var p plan
	sort.Slice(existing, func(i, j int) bool { return existing[i].Name < existing[j].Name })
	existingByPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !ownedBy(s, svc) {
			// A slice left by an earlier Service of the same name.
			p.delete = append(p.delete, s)
			continue
		}
		k := portsKey(s.Ports)
		existingByPorts[k] = append(existingByPorts[k], s)
	}
	desired := desiredEndpoints(svc, pods, addrType)
	for _, k := range slices.Sorted(maps.Keys(desired)) {
		p.add(reconcilePorts(svc, existingByPorts[k], desired[k], addrType, maxPerSlice))
	}
	for _, k := range slices.Sorted(maps.Keys(existingByPorts)) {
		if _, ok := desired[k]; !ok {
			p.delete = append(p.delete, existingByPorts[k]...)
		}
	}
	// A Service with no endpoints keeps one empty slice, so consumers can
	// tell "no endpoints" from "not synced yet".
	if len(p.create) == 0 && len(p.delete) == len(existing) {
		if len(p.delete) == 1 && isPlaceholder(p.delete[0], svc) {
			p.delete = nil
		} else {
			p.create = append(p.create, newSlice(svc, nil, addrType))
		}
	}
	return recycleDeletes(svc, p)
}

// desiredEndpoints groups the endpoints of pods by the ports they resolve.
func desiredEndpoints(svc *corev1.Service, pods []*corev1.Pod, addrType discoveryv1.AddressType) map[string]*desiredGroup {
	out := map[string]*desiredGroup{}
	// With numeric target ports every pod resolves the same ports; only
	// named ones need a lookup per pod.
	var shared []discoveryv1.EndpointPort
	sharedKey, named := "", false
	for _, sp := range svc.Spec.Ports {
		named = named || sp.TargetPort.Type == intstr.String
	}
	for _, pod := range pods {
		// Terminating pods stay, with their conditions saying so.
		if !servicepods.ShouldBeEndpoint(pod, true) {
			continue
		}
		ep := podToEndpoint(pod, svc, addrType)
		if len(ep.Addresses) == 0 {
			continue
		}
		ports, k := shared, sharedKey
		if named || shared == nil {
			ports = endpointPorts(svc, pod)
			k = portsKey(ports)
			if !named {
				shared, sharedKey = ports, k
			}
		}
		g := out[k]
		if g == nil {
			g = &desiredGroup{ports: ports, byKey: map[string]*discoveryv1.Endpoint{}}
			out[k] = g
		}
		g.byKey[endpointKey(&ep)] = &ep
	}
	return out
}

// reconcilePorts places one group's endpoints into its existing slices
// with as few writes as it can, in upstream's three steps:
//  1. each existing slice drops endpoints no longer desired and takes the
//     new version of those that changed; a slice that changed is updated
//     (or deleted when empty), one that did not is left alone;
//  2. endpoints still to place fill the slices already being updated,
//     fullest first, since writing them costs nothing extra;
//  3. what is left goes into the one untouched slice it fits best, and
//     only then into new slices of at most maxPerSlice endpoints.
//
// Worked example (max 100): slices A(100) and B(50); pod a1 in A turns
// unready and three new pods appear. Step 1 updates A in place (a1's
// conditions); B is unchanged. Step 2 cannot add to A (full). Step 3 puts
// the three into B, the untouched slice they fit best: two writes, no
// new slice.
func reconcilePorts(svc *corev1.Service, existing []*discoveryv1.EndpointSlice, g *desiredGroup, addrType discoveryv1.AddressType, maxPerSlice int) plan {
	var p plan
	var unchanged, updated []*discoveryv1.EndpointSlice
	for _, s := range existing {
		kept := make([]discoveryv1.Endpoint, 0, len(s.Endpoints))
		changed := false
		for i := range s.Endpoints {
			k := endpointKey(&s.Endpoints[i])
			want, ok := g.byKey[k]
			if !ok {
				continue
			}
			if !endpointEqual(want, &s.Endpoints[i]) {
				changed = true
			}
			kept = append(kept, *want)
			delete(g.byKey, k)
		}
		labels, labelsChanged := sliceLabels(s, svc)
		switch {
		case changed || len(kept) != len(s.Endpoints):
			if len(kept) == 0 {
				p.delete = append(p.delete, s)
				continue
			}
			c := s.DeepCopy()
			c.Endpoints, c.Labels = kept, labels
			updated = append(updated, c)
		case labelsChanged:
			c := s.DeepCopy()
			c.Labels = labels
			updated = append(updated, c)
		default:
			unchanged = append(unchanged, s)
		}
	}
	// Step 2.
	sort.SliceStable(updated, func(i, j int) bool { return len(updated[i].Endpoints) > len(updated[j].Endpoints) })
	for _, s := range updated {
		fill(s, g, maxPerSlice)
	}
	// Step 3.
	for len(g.byKey) > 0 {
		var target *discoveryv1.EndpointSlice
		if n := len(g.byKey); n < maxPerSlice {
			if i := bestFit(unchanged, n, maxPerSlice); i >= 0 {
				target = unchanged[i].DeepCopy()
				unchanged = slices.Delete(unchanged, i, i+1)
				updated = append(updated, target)
			}
		}
		if target == nil {
			target = newSlice(svc, g.ports, addrType)
			p.create = append(p.create, target)
		}
		fill(target, g, maxPerSlice)
	}
	p.update = append(p.update, updated...)
	return p
}

// fill moves endpoints from g into s until s is full.
func fill(s *discoveryv1.EndpointSlice, g *desiredGroup, maxPerSlice int) {
	for len(s.Endpoints) < maxPerSlice {
		ep, ok := g.pop()
		if !ok {
			return
		}
		s.Endpoints = append(s.Endpoints, *ep)
	}
}

// bestFit returns the index of the slice that n more endpoints leave
// closest to full without overflowing it, or -1.
func bestFit(candidates []*discoveryv1.EndpointSlice, n, maxPerSlice int) int {
	best, bestRoom := -1, maxPerSlice
	for i, s := range candidates {
		room := maxPerSlice - (len(s.Endpoints) + n)
		if room >= 0 && room < bestRoom {
			best, bestRoom = i, room
		}
	}
	return best
}

// recycleDeletes turns a create plus a delete into one update of the
// slice that would be deleted, which saves a write and keeps slice names
// stable for watchers. Only slices this Service owns qualify: one left by
// an earlier Service of the same name is on its way to the garbage
// collector.
func recycleDeletes(svc *corev1.Service, p plan) plan {
	var keep []*discoveryv1.EndpointSlice
	for _, d := range p.delete {
		n := len(p.create)
		if n == 0 || !ownedBy(d, svc) || d.AddressType != p.create[n-1].AddressType {
			keep = append(keep, d)
			continue
		}
		c := p.create[n-1]
		p.create = p.create[:n-1]
		c.Name, c.ResourceVersion = d.Name, d.ResourceVersion
		p.update = append(p.update, c)
	}
	p.delete = keep
	return p
}

// newSlice returns an unnamed slice for svc; the API server names it.
func newSlice(svc *corev1.Service, ports []discoveryv1.EndpointPort, addrType discoveryv1.AddressType) *discoveryv1.EndpointSlice {
	if ports == nil {
		ports = []discoveryv1.EndpointPort{}
	}
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       svc.Namespace,
			GenerateName:    svc.Name + "-",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: addrType,
		Ports:       slices.Clone(ports),
		Endpoints:   []discoveryv1.Endpoint{},
	}
	s.Labels, _ = sliceLabels(s, svc)
	return s
}

// sliceLabels returns the labels s should carry for svc (the Service's own
// labels plus the reserved service-name, managed-by and headless labels)
// and whether the non-reserved ones differ from what s has.
func sliceLabels(s *discoveryv1.EndpointSlice, svc *corev1.Service) (map[string]string, bool) {
	have, want := map[string]string{}, map[string]string{}
	for k, v := range s.Labels {
		if !reservedLabel(k) {
			have[k] = v
		}
	}
	for k, v := range svc.Labels {
		if !reservedLabel(k) {
			want[k] = v
		}
	}
	changed := !maps.Equal(have, want)
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		want[corev1.IsHeadlessService] = ""
	}
	want[discoveryv1.LabelServiceName] = svc.Name
	want[discoveryv1.LabelManagedBy] = ControllerName
	return want, changed
}

func reservedLabel(k string) bool {
	return k == discoveryv1.LabelServiceName || k == discoveryv1.LabelManagedBy || k == corev1.IsHeadlessService
}

func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// isPlaceholder reports whether s is already the empty slice svc needs.
func isPlaceholder(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	want, _ := sliceLabels(s, svc)
	return ownedBy(s, svc) && len(s.Endpoints) == 0 && len(s.Ports) == 0 && maps.Equal(s.Labels, want)
}
