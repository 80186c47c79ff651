package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Upstream's scheduler scores a container that requests nothing as if it
// asked for 100m CPU and 200MiB of memory, so a node full of best-effort
// pods does not look empty. Fit (the filter) never uses these defaults.
const (
	defaultMilliCPURequest int64 = 100
	defaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// resources is the part of a ResourceList the scheduler does arithmetic on,
// in the units the filters compare: millicores and bytes.
type resources struct {
	milliCPU  int64
	memory    int64
	ephemeral int64
	// scalar holds extended resources and hugepages; nil when there are none,
	// which is the common case and keeps the hot path free of map work.
	scalar map[corev1.ResourceName]int64
}

func resourcesFrom(rl corev1.ResourceList) resources {
	var r resources
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.milliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.ephemeral = q.Value()
		case corev1.ResourcePods:
			// The pod count is tracked separately (len of the node's pods).
		default:
			if v := q.Value(); v != 0 {
				if r.scalar == nil {
					r.scalar = map[corev1.ResourceName]int64{}
				}
				r.scalar[name] = v
			}
		}
	}
	return r
}

func (r *resources) add(o resources, sign int64) {
	r.milliCPU += sign * o.milliCPU
	r.memory += sign * o.memory
	r.ephemeral += sign * o.ephemeral
	for name, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[corev1.ResourceName]int64{}
		}
		r.scalar[name] += sign * v
	}
}

// podRequests computes what a pod asks of a node, with upstream's rules
// (k8s.io/component-helpers/resource): regular containers and sidecars
// (restartable init containers) run together and are summed, ordinary init
// containers run one at a time so only the largest counts, then pod-level
// resources and the RuntimeClass overhead are applied.
//
// Worked example: init containers of 2 CPU and 3 CPU, containers of 1 CPU
// and 1 CPU, overhead 250m: max(3, 1+1) + 0.25 = 3.25 CPU.
//
// nonZeroCPU and nonZeroMem are the same sum with the scoring defaults put in
// for containers that request nothing.
func podRequests(pod *corev1.Pod) (req resources, nonZeroCPU, nonZeroMem int64) {
	req = resourcesFrom(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	nz := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		NonMissingContainerRequests: nonMissingRequests(pod),
	})
	return req, nz.Cpu().MilliValue(), nz.Memory().Value()
}

var scoringDefaults = corev1.ResourceList{
	corev1.ResourceCPU:    *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI),
	corev1.ResourceMemory: *resource.NewQuantity(defaultMemoryRequest, resource.DecimalSI),
}

// nonMissingRequests returns the defaults to fill in for containers without
// requests. When the pod sets pod-level requests for a resource, upstream
// trusts those and fills in only what neither level sets.
func nonMissingRequests(pod *corev1.Pod) corev1.ResourceList {
	if !resourcehelper.IsPodLevelRequestsSet(pod) {
		return scoringDefaults
	}
	out := corev1.ResourceList{}
	for name, q := range scoringDefaults {
		if _, ok := pod.Spec.Resources.Requests[name]; !ok {
			out[name] = q
		}
	}
	return out
}
