package usage

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Evaluator prices the objects of one resource.
type Evaluator interface {
	// GroupResource is the resource it prices.
	GroupResource() schema.GroupResource
	// Usage is what obj costs. now decides whether a pod stuck
	// terminating past its grace period still counts.
	Usage(obj runtime.Object, now time.Time) (corev1.ResourceList, error)
	// MatchingResources filters names to those this evaluator charges.
	MatchingResources(names []corev1.ResourceName) []corev1.ResourceName
	// MatchesScope reports whether obj satisfies one scope requirement.
	MatchesScope(req corev1.ScopedResourceSelectorRequirement, obj runtime.Object) (bool, error)
	// Constraints returns an error when obj does not set what the quota's
	// required resources demand (pods must state cpu and memory requests
	// and limits a quota constrains).
	Constraints(required []corev1.ResourceName, obj runtime.Object) error
	// ChargesUpdates reports whether an update can change usage (a Service
	// turning into a LoadBalancer, a claim growing); for other resources
	// only creates are charged.
	ChargesUpdates() bool
}

// CountName is the object-count quota name for a resource:
// "count/pods", "count/deployments.apps".
func CountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

// ParseCountName is CountName's inverse.
func ParseCountName(name corev1.ResourceName) (schema.GroupResource, bool) {
	s, ok := strings.CutPrefix(string(name), "count/")
	if !ok || s == "" {
		return schema.GroupResource{}, false
	}
	res, group, _ := strings.Cut(s, ".")
	return schema.GroupResource{Group: group, Resource: res}, true
}

var core = func(res string) schema.GroupResource { return schema.GroupResource{Resource: res} }

// For returns the evaluator of gr: the specific ones for pods, services
// and claims, the legacy counted kinds (configmaps, secrets, ...), or a
// plain object count for anything else.
func For(gr schema.GroupResource) Evaluator {
	switch gr {
	case core("pods"):
		return podEvaluator{}
	case core("services"):
		return serviceEvaluator{}
	case core("persistentvolumeclaims"):
		return pvcEvaluator{}
	case core("configmaps"):
		return countEvaluator{gr: gr, legacy: corev1.ResourceConfigMaps}
	case core("secrets"):
		return countEvaluator{gr: gr, legacy: corev1.ResourceSecrets}
	case core("replicationcontrollers"):
		return countEvaluator{gr: gr, legacy: corev1.ResourceReplicationControllers}
	case core("resourcequotas"):
		return countEvaluator{gr: gr, legacy: corev1.ResourceQuotas}
	}
	return countEvaluator{gr: gr}
}

// countEvaluator charges one per object, under count/<resource> and, for
// the kinds quota has always counted, also under the legacy name.
type countEvaluator struct {
	gr     schema.GroupResource
	legacy corev1.ResourceName
}

func (e countEvaluator) GroupResource() schema.GroupResource { return e.gr }

func (e countEvaluator) Usage(runtime.Object, time.Time) (corev1.ResourceList, error) {
	out := corev1.ResourceList{CountName(e.gr): one()}
	if e.legacy != "" {
		out[e.legacy] = one()
	}
	return out, nil
}

func (e countEvaluator) MatchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names {
		if n == CountName(e.gr) || (e.legacy != "" && n == e.legacy) {
			out = append(out, n)
		}
	}
	return out
}

// MatchesScope: scopes only describe pods, so a scoped quota never
// counts other objects.
func (countEvaluator) MatchesScope(corev1.ScopedResourceSelectorRequirement, runtime.Object) (bool, error) {
	return false, nil
}

func (countEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }
func (countEvaluator) ChargesUpdates() bool                                    { return false }

// serviceEvaluator charges services, their node ports and load balancers.
type serviceEvaluator struct{}

var serviceResources = []corev1.ResourceName{
	"count/services", corev1.ResourceServices, corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
}

func (serviceEvaluator) GroupResource() schema.GroupResource { return core("services") }

// Usage: one service; a NodePort Service uses a node port per port, and a
// LoadBalancer one too unless it opted out of node port allocation (then
// only ports that still have one).
func (serviceEvaluator) Usage(obj runtime.Object, _ time.Time) (corev1.ResourceList, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Service, got %T", obj)
	}
	out := corev1.ResourceList{
		"count/services":                     one(),
		corev1.ResourceServices:              one(),
		corev1.ResourceServicesNodePorts:     count(0),
		corev1.ResourceServicesLoadBalancers: count(0),
	}
	ports := int64(len(svc.Spec.Ports))
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		out[corev1.ResourceServicesNodePorts] = count(ports)
	case corev1.ServiceTypeLoadBalancer:
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			ports = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports++
				}
			}
		}
		out[corev1.ResourceServicesNodePorts] = count(ports)
		out[corev1.ResourceServicesLoadBalancers] = one()
	}
	return out, nil
}

func (serviceEvaluator) MatchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	return intersect(names, serviceResources)
}

func (serviceEvaluator) MatchesScope(corev1.ScopedResourceSelectorRequirement, runtime.Object) (bool, error) {
	return false, nil
}
func (serviceEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }
func (serviceEvaluator) ChargesUpdates() bool                                    { return true }

// pvcEvaluator charges claims and the storage they request, also per
// storage class ("<class>.storageclass.storage.k8s.io/requests.storage").
type pvcEvaluator struct{}

const storageClassSuffix = ".storageclass.storage.k8s.io/"

func (pvcEvaluator) GroupResource() schema.GroupResource { return core("persistentvolumeclaims") }

func (pvcEvaluator) Usage(obj runtime.Object, _ time.Time) (corev1.ResourceList, error) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, fmt.Errorf("expected *v1.PersistentVolumeClaim, got %T", obj)
	}
	out := corev1.ResourceList{
		"count/persistentvolumeclaims":        one(),
		corev1.ResourcePersistentVolumeClaims: one(),
	}
	class := claimClass(pvc)
	if class != "" {
		out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one()
	}
	if req, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		q := req.DeepCopy()
		// Whole bytes, as the volume will be.
		q.RoundUp(0)
		out[corev1.ResourceRequestsStorage] = q
		if class != "" {
			out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = q.DeepCopy()
		}
	}
	return out, nil
}

func claimClass(pvc *corev1.PersistentVolumeClaim) string {
	if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return c
	}
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return ""
}

func (pvcEvaluator) MatchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names {
		switch {
		case n == "count/persistentvolumeclaims", n == corev1.ResourcePersistentVolumeClaims,
			n == corev1.ResourceRequestsStorage, strings.Contains(string(n), storageClassSuffix):
			out = append(out, n)
		}
	}
	return out
}

func (pvcEvaluator) MatchesScope(corev1.ScopedResourceSelectorRequirement, runtime.Object) (bool, error) {
	return false, nil
}
func (pvcEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }
func (pvcEvaluator) ChargesUpdates() bool                                    { return true }

func intersect(names, allowed []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names {
		for _, a := range allowed {
			if n == a {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
