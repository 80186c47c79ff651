package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// isQoSResource: only CPU and memory decide a pod's QoS class.
func isQoSResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}

// computePodQOS is upstream's ComputePodQOS:
//   - BestEffort: no container (nor the pod) requests or limits CPU or memory;
//   - Guaranteed: every container limits both CPU and memory, and requests
//     equal limits (summed over all containers);
//   - Burstable: anything else.
//
// Worked example: one container with limits {cpu: 1, memory: 1Gi} and no
// requests is Guaranteed once defaulting copies limits into requests; add a
// second container with only requests {cpu: 100m} and the pod is Burstable,
// because that container sets no limits.
//
// When pod-level resources (spec.resources) are set they decide alone.
func computePodQOS(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	guaranteed := true
	if spec.Resources != nil {
		addPositive(requests, spec.Resources.Requests)
		addPositive(limits, spec.Resources.Limits)
		if _, ok := limits[corev1.ResourceCPU]; !ok {
			guaranteed = false
		}
		if _, ok := limits[corev1.ResourceMemory]; !ok {
			guaranteed = false
		}
	} else {
		all := append(append([]corev1.Container{}, spec.Containers...), spec.InitContainers...)
		for i := range all {
			addPositive(requests, all[i].Resources.Requests)
			found := addPositive(limits, all[i].Resources.Limits)
			if !found[corev1.ResourceCPU] || !found[corev1.ResourceMemory] {
				guaranteed = false
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// addPositive adds the positive CPU and memory quantities of list into sum
// and reports which resources it found.
func addPositive(sum, list corev1.ResourceList) map[corev1.ResourceName]bool {
	found := map[corev1.ResourceName]bool{}
	for name, q := range list {
		if !isQoSResource(name) || q.Cmp(resource.Quantity{}) <= 0 {
			continue
		}
		found[name] = true
		total := q.DeepCopy()
		if prev, ok := sum[name]; ok {
			total.Add(prev)
		}
		sum[name] = total
	}
	return found
}
