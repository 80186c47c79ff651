package resourcequota

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/admission"
	"github.com/skiff-sh/skiff/internal/controller/resourcequota/usage"
)

// concerned reports whether quota q limits obj at all, and returns the
// reason obj may not be admitted regardless of usage: it leaves a
// constrained resource unstated ("failed quota"), or the quota's status
// does not show usage for a resource it limits yet ("status unknown").
// Like upstream, a quota whose status.hard is still empty (the controller
// has not seen it) limits nothing.
func concerned(eval usage.Evaluator, q *corev1.ResourceQuota, obj runtime.Object) (bool, error) {
	hard := q.Status.Hard
	match, err := usage.Matches(eval, q, hard, obj)
	if err != nil || !match {
		return false, err
	}
	restricted := eval.MatchingResources(usage.Names(hard))
	if err := eval.Constraints(restricted, obj); err != nil {
		return false, fmt.Errorf("failed quota: %s: %w", q.Name, err)
	}
	var missing []corev1.ResourceName
	for _, r := range restricted {
		if _, ok := q.Status.Used[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return false, fmt.Errorf("status unknown for quota: %s, resources: %s", q.Name, usage.FormatNames(restricted))
	}
	return true, nil
}

// delta is what admitting the write adds to usage: the object's usage on
// create; on update, only the growth over the stored version (a Service
// turning into a LoadBalancer, a claim growing). Zero entries are dropped.
func delta(eval usage.Evaluator, a *admission.Attributes, now time.Time) (corev1.ResourceList, error) {
	u, err := eval.Usage(a.Object, now)
	if err != nil {
		return nil, err
	}
	if a.Operation == admission.Update && a.OldObject != nil {
		if acc, err := meta.Accessor(a.OldObject); err == nil && acc.GetResourceVersion() != "" {
			prev, err := eval.Usage(a.OldObject, now)
			if err != nil {
				return nil, err
			}
			u = usage.SubtractNonNegative(u, prev)
		}
	}
	for k, v := range u {
		if v.IsZero() {
			delete(u, k)
		}
	}
	return u, nil
}

// charge returns the status.used q should have once the write is admitted,
// or nil when q limits none of what the write uses; it refuses a write
// that would take usage past status.hard, with upstream's message:
//
//	exceeded quota: compute, requested: pods=1, used: pods=3, limited: pods=3
//
// Worked example: hard {pods: 3, requests.cpu: 1}, used {pods: 2,
// requests.cpu: 800m}, a pod requesting 300m: pods 2+1 = 3 fits, cpu
// 800m+300m = 1100m > 1, so "requested: requests.cpu=300m, used:
// requests.cpu=800m, limited: requests.cpu=1".
func charge(q *corev1.ResourceQuota, d corev1.ResourceList) (corev1.ResourceList, error) {
	hard := q.Status.Hard
	requested := usage.Mask(d, usage.Names(hard))
	if len(requested) == 0 {
		return nil, nil
	}
	used := usage.Add(q.Status.Used, requested)
	if ok, exceeded := usage.LessThanOrEqual(usage.Mask(used, usage.Names(requested)), hard); !ok {
		return nil, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s", q.Name,
			usage.Format(usage.Mask(requested, exceeded)),
			usage.Format(usage.Mask(q.Status.Used, exceeded)),
			usage.Format(usage.Mask(hard, exceeded)))
	}
	return used, nil
}
