package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/internal/controller/endpoints/servicepods"
)

// DeletionTimeout is how long a pod the eviction handler listed in
// status.disruptedPods may take to show a deletionTimestamp before the
// controller assumes the eviction did not happen and counts it again.
const DeletionTimeout = 2 * time.Minute

// scaleFunc returns the controller a pod's controllerRef names and its
// desired replica count; found is false when no such controller exists
// (or the reference points to a different incarnation of it).
type scaleFunc func(ref *metav1.OwnerReference, namespace string) (uid types.UID, replicas int32, found bool, err error)

// expectedCounts returns how many pods the budget expects and how many of
// them must stay healthy.
//
// An integer minAvailable is absolute: expected is the number of matching
// pods and desired is minAvailable. A percentage, and any maxUnavailable,
// is relative to the scale of the controllers owning the pods (summed over
// distinct controllers), rounded up, as upstream does:
//
//	minAvailable 50%, one Deployment of 5 replicas: expected 5,
//	  desired ceil(2.5) = 3.
//	maxUnavailable 1, a StatefulSet of 3: expected 3, desired 3-1 = 2.
//	maxUnavailable 30%, two ReplicaSets of 4 and 6: expected 10,
//	  unavailable ceil(3.0) = 3, desired 7.
//
// Pods without a controller are returned as unmanaged and left out of the
// scale; a pod whose controller cannot be found is an error, which makes
// the caller fail safe (no disruptions allowed).
func expectedCounts(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, scale scaleFunc) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = expectedScale(pods, scale)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, unmanaged, fmt.Errorf("maxUnavailable: %w", err)
		}
		return expected, max(expected-int32(maxUnavailable), 0), unmanaged, nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), pdb.Spec.MinAvailable.IntVal, nil, nil
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = expectedScale(pods, scale)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, unmanaged, fmt.Errorf("minAvailable: %w", err)
		}
		return expected, int32(minAvailable), unmanaged, nil
	}
	return 0, 0, nil, nil
}

// expectedScale sums the replicas of the distinct controllers of pods.
func expectedScale(pods []*corev1.Pod, scale scaleFunc) (int32, []string, error) {
	replicas := map[types.UID]int32{}
	seen := map[types.UID]bool{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if seen[ref.UID] {
			continue
		}
		uid, n, found, err := scale(ref, pod.Namespace)
		if err != nil {
			return 0, unmanaged, err
		}
		if !found {
			return 0, unmanaged, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		seen[ref.UID] = true
		replicas[uid] = n
	}
	var total int32
	for _, n := range replicas {
		total += n
	}
	return total, unmanaged, nil
}

// countHealthy counts pods that are Ready, not being deleted, and not
// recently evicted (listed in disrupted within DeletionTimeout).
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if t, ok := disrupted[pod.Name]; ok && t.Add(DeletionTimeout).After(now) {
			continue
		}
		if servicepods.IsReady(pod) {
			n++
		}
	}
	return n
}

// disruptedPodMap prunes status.disruptedPods: entries for pods that are
// gone or already being deleted are done; entries older than
// DeletionTimeout are evictions that did not happen (returned as
// notDeleted). recheck is when the earliest remaining entry expires.
func disruptedPodMap(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (kept map[string]metav1.Time, recheck *time.Time, notDeleted []*corev1.Pod) {
	kept = map[string]metav1.Time{}
	if pdb.Status.DisruptedPods == nil {
		return kept, nil, nil
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		t, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		expires := t.Add(DeletionTimeout)
		if expires.Before(now) {
			notDeleted = append(notDeleted, pod)
			continue
		}
		if recheck == nil || expires.Before(*recheck) {
			recheck = &expires
		}
		kept[pod.Name] = t
	}
	return kept, recheck, notDeleted
}

// buildStatus is the status the budget should have.
//
// disruptionsAllowed = currentHealthy - desiredHealthy, never negative,
// and 0 while no pods are expected: a budget that matches nothing yet
// must be safe when its first pods appear before the next sync.
// Worked example: 5 ready pods of a 5-replica Deployment, minAvailable
// 60%: desired ceil(3.0) = 3, allowed 5-3 = 2; after one eviction the
// evicted pod is in disruptedPods, current 4, allowed 1.
func buildStatus(pdb *policyv1.PodDisruptionBudget, current, desired, expected int32, disrupted map[string]metav1.Time, now time.Time) policyv1.PodDisruptionBudgetStatus {
	allowed := current - desired
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	st := policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     current,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		Conditions:         cloneConditions(pdb.Status.Conditions),
	}
	cond := metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.InsufficientPodsReason,
		ObservedGeneration: pdb.Generation,
		LastTransitionTime: metav1.NewTime(now),
	}
	if allowed > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	apimeta.SetStatusCondition(&st.Conditions, cond)
	return st
}

// failSafeStatus allows no disruptions and says why.
func failSafeStatus(pdb *policyv1.PodDisruptionBudget, cause error, now time.Time) policyv1.PodDisruptionBudgetStatus {
	st := *pdb.Status.DeepCopy()
	st.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: st.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now),
	})
	return st
}

func cloneConditions(in []metav1.Condition) []metav1.Condition {
	if in == nil {
		return []metav1.Condition{}
	}
	return append([]metav1.Condition(nil), in...)
}

// statusEqual compares statuses the way a write would change them (nil
// and empty maps and lists are equal; condition transition times only
// move with the condition).
func statusEqual(a, b *policyv1.PodDisruptionBudgetStatus) bool {
	return apiequality.Semantic.DeepEqual(*a, *b)
}
