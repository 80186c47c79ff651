package statefulset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// computeStatus derives set's status from its pods (pods with an
// unparsable ordinal are not the set's and are not passed in). requeue is
// how long until a ready pod becomes available under minReadySeconds.
//
// When a rolling update has brought every replica to the update revision
// and all are ready, the update revision becomes the current one; that is
// how `kubectl rollout status` sees the rollout finish.
//
// Example: replicas=3, pods 0 and 1 at update revision u and ready, pod 2
// at current revision c and ready: replicas 3, ready 3, updated 2,
// current 1, currentRevision c.
func computeStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, currentRevision, updateRevision string, collisionCount int32, now time.Time) (st appsv1.StatefulSetStatus, requeue time.Duration) {
	st = appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    currentRevision,
		UpdateRevision:     updateRevision,
		CollisionCount:     &collisionCount,
		Conditions:         set.Status.Conditions,
	}
	minReady := set.Spec.MinReadySeconds
	for _, pod := range pods {
		if !isCreated(pod) {
			continue
		}
		st.Replicas++
		if isRunningAndReady(pod) {
			st.ReadyReplicas++
			if isAvailable(pod, minReady, now) {
				st.AvailableReplicas++
			} else if d := untilAvailable(pod, minReady, now); d > 0 && (requeue == 0 || d < requeue) {
				requeue = d
			}
		}
		if isTerminating(pod) {
			continue
		}
		if podRevision(pod) == currentRevision {
			st.CurrentReplicas++
		}
		if podRevision(pod) == updateRevision {
			st.UpdatedReplicas++
		}
	}
	want := int32(replicasOf(set))
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st, requeue
}

// statusChanged reports whether st differs from what set stores.
func statusChanged(set *appsv1.StatefulSet, st *appsv1.StatefulSetStatus) bool {
	old := &set.Status
	oldCollisions := int32(0)
	if old.CollisionCount != nil {
		oldCollisions = *old.CollisionCount
	}
	return st.ObservedGeneration > old.ObservedGeneration ||
		st.Replicas != old.Replicas ||
		st.ReadyReplicas != old.ReadyReplicas ||
		st.AvailableReplicas != old.AvailableReplicas ||
		st.CurrentReplicas != old.CurrentReplicas ||
		st.UpdatedReplicas != old.UpdatedReplicas ||
		st.CurrentRevision != old.CurrentRevision ||
		st.UpdateRevision != old.UpdateRevision ||
		*st.CollisionCount != oldCollisions || old.CollisionCount == nil
}

func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, st *appsv1.StatefulSetStatus) error {
	if !statusChanged(set, st) {
		return nil
	}
	setClient := c.client.AppsV1().StatefulSets(set.Namespace)
	upd := set.DeepCopy()
	upd.Status = *st
	_, err := setClient.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// Usually our own previous status write, not yet in the cache:
		// retry once on a fresh read rather than back off.
		fresh, gerr := setClient.Get(ctx, set.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("reading stateful set %s/%s: %w", set.Namespace, set.Name, gerr)
		}
		if fresh.UID != set.UID {
			return nil // recreated under the same name; its own sync follows
		}
		retry := *st
		retry.Conditions = fresh.Status.Conditions
		retry.ObservedGeneration = max(retry.ObservedGeneration, fresh.Status.ObservedGeneration) // never backwards
		fresh.Status = retry
		_, err = setClient.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("updating status of stateful set %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}
