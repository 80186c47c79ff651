// Package servicepods answers the questions the Endpoints and EndpointSlice
// controllers share about the pods behind a Service: which Services select
// a pod, whether a pod is an endpoint at all, which port a named targetPort
// means on that pod, and when the change that a write reflects happened.
// It holds no API objects of its own and writes nothing.
package servicepods

import (
	"reflect"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// SelectorCache holds the parsed selector of every Service that has one,
// grouped by namespace. A pod event then costs one selector match per
// Service in the pod's own namespace, never a scan of all Services or a
// re-parse of their selectors: with 10,000 pods churning across 100
// namespaces of 10 Services each, an event is 10 map-backed matches.
type SelectorCache struct {
	mu   sync.RWMutex
	byNS map[string]map[string]labels.Selector // namespace -> service name -> selector
}

// NewSelectorCache returns an empty cache.
func NewSelectorCache() *SelectorCache {
	return &SelectorCache{byNS: map[string]map[string]labels.Selector{}}
}

// Update records svc's selector. A Service without a selector selects no
// pods (its endpoints are user-managed), so it is removed instead.
func (c *SelectorCache) Update(svc *corev1.Service) {
	if svc.Spec.Selector == nil {
		c.Delete(svc.Namespace, svc.Name)
		return
	}
	sel := labels.SelectorFromValidatedSet(labels.Set(svc.Spec.Selector))
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.byNS[svc.Namespace]
	if ns == nil {
		ns = map[string]labels.Selector{}
		c.byNS[svc.Namespace] = ns
	}
	ns[svc.Name] = sel
}

// Delete forgets a Service.
func (c *SelectorCache) Delete(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.byNS[namespace]
	delete(ns, name)
	if len(ns) == 0 {
		delete(c.byNS, namespace)
	}
}

// ServicesFor returns the "namespace/name" keys of the Services whose
// selector matches pod, sorted.
func (c *SelectorCache) ServicesFor(pod *corev1.Pod) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var keys []string
	set := labels.Set(pod.Labels)
	for name, sel := range c.byNS[pod.Namespace] {
		if sel.Matches(set) {
			keys = append(keys, pod.Namespace+"/"+name)
		}
	}
	sort.Strings(keys)
	return keys
}

// ServicesToUpdate returns the Services affected by a pod update, as
// upstream decides it: nothing when the pod changed in no way an endpoint
// reflects; the Services it belongs to when its endpoint changed; and when
// its labels (or hostname/subdomain) changed, also the Services it left or
// joined.
func (c *SelectorCache) ServicesToUpdate(old, cur *corev1.Pod) []string {
	if old.ResourceVersion == cur.ResourceVersion {
		// A resync delivers the same object again.
		return nil
	}
	podChanged, labelsChanged := EndpointChanged(old, cur)
	if !podChanged && !labelsChanged {
		return nil
	}
	now := c.ServicesFor(cur)
	if !labelsChanged {
		return now
	}
	before := c.ServicesFor(old)
	return mergeKeys(before, now, podChanged)
}

// mergeKeys returns the union of a and b when the pod itself changed, and
// their symmetric difference when only its membership did: a Service it
// stayed in sees the same endpoint.
func mergeKeys(a, b []string, union bool) []string {
	inA := map[string]bool{}
	for _, k := range a {
		inA[k] = true
	}
	inB := map[string]bool{}
	for _, k := range b {
		inB[k] = true
	}
	var out []string
	for _, k := range a {
		if union || !inB[k] {
			out = append(out, k)
		}
	}
	for _, k := range b {
		if !inA[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// EndpointChanged reports whether a pod update may change its endpoint
// (first result) and whether it may change which Services select it
// (second result).
func EndpointChanged(old, cur *corev1.Pod) (podChanged, labelsChanged bool) {
	labelsChanged = !reflect.DeepEqual(old.Labels, cur.Labels) ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain
	switch {
	case (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil):
		return true, labelsChanged
	case IsReady(old) != IsReady(cur):
		return true, labelsChanged
	case old.Status.Phase != cur.Status.Phase && (isTerminal(old) || isTerminal(cur)):
		return true, labelsChanged
	case len(old.Status.PodIPs) != len(cur.Status.PodIPs) || old.Status.PodIP != cur.Status.PodIP:
		return true, labelsChanged
	}
	for i := range old.Status.PodIPs {
		if old.Status.PodIPs[i].IP != cur.Status.PodIPs[i].IP {
			return true, labelsChanged
		}
	}
	// Name, namespace and UID are immutable, and nodeName is set before
	// the pod gets an IP, so nothing else an endpoint shows can change.
	return false, labelsChanged
}
