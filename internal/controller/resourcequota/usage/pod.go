package usage

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
)

// podEvaluator charges pods and the compute resources they request.
type podEvaluator struct{}

var podResources = []corev1.ResourceName{
	"count/pods", corev1.ResourcePods,
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
}

// constrained are the resources a pod must state explicitly, per
// container, when a quota limits them (upstream keeps this rule for
// backward compatibility; it predates QoS classes).
var constrained = sets.New(
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
)

func (podEvaluator) GroupResource() schema.GroupResource { return core("pods") }

func (podEvaluator) ChargesUpdates() bool { return false }

// Usage: every stored pod counts under count/pods; a pod that has not
// finished (and is not stuck terminating past its grace period) also
// counts under pods and with its effective requests and limits, computed
// as the scheduler does (init containers by their peak, sidecars summed,
// pod overhead included).
//
// Worked example: containers requesting cpu 100m and 200m, an init
// container requesting 500m: requests.cpu = max(100m+200m, 500m) = 500m.
func (podEvaluator) Usage(obj runtime.Object, now time.Time) (corev1.ResourceList, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Pod, got %T", obj)
	}
	out := corev1.ResourceList{"count/pods": one()}
	if !countsCompute(pod, now) {
		return out, nil
	}
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	for k, v := range computeUsage(requests, limits) {
		out[k] = v
	}
	return out, nil
}

// countsCompute reports whether a pod still holds compute resources.
func countsCompute(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	// A pod stuck terminating (say its node is gone) should not keep its
	// owner from replacing it.
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		grace := time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		if now.After(pod.DeletionTimestamp.Add(grace)) {
			return false
		}
	}
	return true
}

// computeUsage turns effective requests and limits into quota names.
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: one()}
	pairs := []struct {
		res           corev1.ResourceName
		plain, req, l corev1.ResourceName
	}{
		{corev1.ResourceCPU, corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU},
		{corev1.ResourceMemory, corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory},
		{corev1.ResourceEphemeralStorage, corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage},
	}
	for _, p := range pairs {
		if q, ok := requests[p.res]; ok {
			out[p.plain] = q.DeepCopy()
			out[p.req] = q.DeepCopy()
		}
		if q, ok := limits[p.res]; ok {
			out[p.l] = q.DeepCopy()
		}
	}
	for name, q := range requests {
		switch {
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			out[name] = q.DeepCopy()
			out[corev1.ResourceName("requests."+string(name))] = q.DeepCopy()
		case isExtended(name):
			// Extended resources are only quotaed as requests.<name>.
			out[corev1.ResourceName("requests."+string(name))] = q.DeepCopy()
		}
	}
	return out
}

// isExtended reports a resource outside the kubernetes.io namespace, like
// example.com/gpu.
func isExtended(name corev1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.HasPrefix(s, "requests.") {
		return false
	}
	domain, _, _ := strings.Cut(s, "/")
	return domain != "kubernetes.io" && !strings.HasSuffix(domain, ".kubernetes.io")
}

func (podEvaluator) MatchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names {
		s := string(n)
		switch {
		case len(intersect([]corev1.ResourceName{n}, podResources)) > 0,
			strings.HasPrefix(s, corev1.ResourceHugePagesPrefix),
			strings.HasPrefix(s, "requests."+corev1.ResourceHugePagesPrefix),
			strings.HasPrefix(s, "requests.") && isExtended(corev1.ResourceName(strings.TrimPrefix(s, "requests."))):
			out = append(out, n)
		}
	}
	return out
}

// Constraints returns upstream's "must specify" error: each container and
// init container must state every constrained resource the quota limits.
// Example: "must specify limits.cpu for: app,sidecar; requests.memory for: app".
func (podEvaluator) Constraints(required []corev1.ResourceName, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return fmt.Errorf("expected *v1.Pod, got %T", obj)
	}
	need := sets.New(required...).Intersection(constrained)
	if need.Len() == 0 {
		return nil
	}
	missing := map[corev1.ResourceName]sets.Set[string]{}
	check := func(c *corev1.Container) {
		have := sets.New(Names(computeUsage(c.Resources.Requests, c.Resources.Limits))...)
		for _, r := range need.Difference(have).UnsortedList() {
			if missing[r] == nil {
				missing[r] = sets.New[string]()
			}
			missing[r].Insert(c.Name)
		}
	}
	for i := range pod.Spec.Containers {
		check(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		check(&pod.Spec.InitContainers[i])
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for r := range missing {
		names = append(names, string(r))
	}
	sort.Strings(names)
	msgs := make([]string, len(names))
	for i, r := range names {
		msgs[i] = fmt.Sprintf("%s for: %s", r, strings.Join(sets.List(missing[corev1.ResourceName(r)]), ","))
	}
	return fmt.Errorf("must specify %s", strings.Join(msgs, "; "))
}

// MatchesScope evaluates one scope requirement against a pod.
func (podEvaluator) MatchesScope(req corev1.ScopedResourceSelectorRequirement, obj runtime.Object) (bool, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false, fmt.Errorf("expected *v1.Pod, got %T", obj)
	}
	switch req.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminating(pod), nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminating(pod), nil
	case corev1.ResourceQuotaScopeBestEffort:
		return isBestEffort(pod), nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !isBestEffort(pod), nil
	case corev1.ResourceQuotaScopePriorityClass:
		return matchesValue(req, pod.Spec.PriorityClassName)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod), nil
	}
	return false, nil
}

// isTerminating: a pod with an active deadline will end on its own.
func isTerminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// isBestEffort: no cpu or memory requested or limited anywhere in the pod.
func isBestEffort(pod *corev1.Pod) bool {
	lists := []corev1.ResourceList{}
	if r := pod.Spec.Resources; r != nil {
		lists = append(lists, r.Requests, r.Limits)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			lists = append(lists, cs[i].Resources.Requests, cs[i].Resources.Limits)
		}
	}
	for _, l := range lists {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := l[name]; ok && q.Sign() > 0 {
				return false
			}
		}
	}
	return true
}

func matchesValue(req corev1.ScopedResourceSelectorRequirement, value string) (bool, error) {
	switch req.Operator {
	case corev1.ScopeSelectorOpExists:
		return value != "", nil
	case corev1.ScopeSelectorOpDoesNotExist:
		return value == "", nil
	case corev1.ScopeSelectorOpIn:
		return value != "" && sets.New(req.Values...).Has(value), nil
	case corev1.ScopeSelectorOpNotIn:
		return !sets.New(req.Values...).Has(value), nil
	}
	return false, fmt.Errorf("unsupported scope selector operator %q", req.Operator)
}

func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if len(t.Namespaces) > 0 || t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}
