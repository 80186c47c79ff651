package statefulset

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// maxUnavailable scales rollingUpdate.maxUnavailable (default 1) against
// replicas, rounding down but never below 1 so an update can progress.
// Example: 40% of 4 replicas is 1.6, which rounds down to 1.
func maxUnavailable(set *appsv1.StatefulSet) (int, error) {
	v := intstr.FromInt32(1)
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v = *ru.MaxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, replicasOf(set), false)
	if err != nil {
		return 0, fmt.Errorf("invalid maxUnavailable: %w", err)
	}
	return max(n, 1), nil
}

// partitionIndex is the first replica index a rolling update may touch.
func partitionIndex(set *appsv1.StatefulSet) int {
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return int(*ru.Partition)
	}
	return 0
}

// rollingUpdateTargets picks the pods to delete so that they come back at
// the update revision: from the highest ordinal down to the partition,
// pods not at the update revision, as many as maxUnavailable allows given
// the replicas already unavailable (any ordinal counts). replicas is
// indexed by ordinal-start.
//
// Example: 5 replicas, partition 2, maxUnavailable 1, all healthy and
// old: ordinal 4 is deleted; once it is back and ready, 3; then 2; 0 and 1
// stay at the current revision.
func rollingUpdateTargets(set *appsv1.StatefulSet, replicas []*corev1.Pod, updateRevision string, now time.Time) ([]*corev1.Pod, error) {
	limit, err := maxUnavailable(set)
	if err != nil {
		return nil, err
	}
	unavailable := 0
	for _, p := range replicas {
		if !isHealthy(p) || !isAvailable(p, set.Spec.MinReadySeconds, now) {
			unavailable++
		}
	}
	var targets []*corev1.Pod
	for i := len(replicas) - 1; i >= partitionIndex(set) && unavailable+len(targets) < limit; i-- {
		p := replicas[i]
		if isCreated(p) && podRevision(p) != updateRevision && !isTerminating(p) {
			targets = append(targets, p)
		}
	}
	return targets, nil
}
