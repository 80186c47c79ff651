package daemonset

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// computeStatus counts, over the nodes that exist, what `kubectl rollout
// status` and `kubectl get ds` show. Only the oldest pod of a node counts,
// so a node mid-surge is one scheduled pod, not two. requeue is how long
// until a ready pod becomes available under minReadySeconds (0: none).
//
// Example: 3 nodes qualify, 2 have a pod, both ready, one on the old
// revision: desired 3, current 2, ready 2, updated 1, unavailable 1.
func computeStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) (st appsv1.DaemonSetStatus, requeue time.Duration) {
	st = *ds.Status.DeepCopy()
	st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberMisscheduled = 0, 0, 0
	st.NumberReady, st.UpdatedNumberScheduled, st.NumberAvailable = 0, 0, 0
	gen := templateGeneration(ds)
	for _, node := range nodes {
		shouldRun, _ := nodeShouldRunDaemonPod(node, ds)
		pods := nodeToPods[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		pods = slices.Clone(pods)
		sortOldestFirst(pods)
		pod := pods[0]
		if isPodReady(pod) {
			st.NumberReady++
			if isPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			} else if d := untilAvailable(pod, ds.Spec.MinReadySeconds, now); d > 0 && (requeue == 0 || d < requeue) {
				requeue = d
			}
		}
		if isPodUpdated(pod, hash, gen) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st, requeue
}

// statusChanged reports whether st differs from what ds stores.
func statusChanged(ds *appsv1.DaemonSet, st *appsv1.DaemonSetStatus) bool {
	old := &ds.Status
	return old.DesiredNumberScheduled != st.DesiredNumberScheduled ||
		old.CurrentNumberScheduled != st.CurrentNumberScheduled ||
		old.NumberMisscheduled != st.NumberMisscheduled ||
		old.NumberReady != st.NumberReady ||
		old.UpdatedNumberScheduled != st.UpdatedNumberScheduled ||
		old.NumberAvailable != st.NumberAvailable ||
		old.NumberUnavailable != st.NumberUnavailable ||
		old.ObservedGeneration != st.ObservedGeneration
}

// writeStatus stores status computed for ds. observed says whether this
// sync acted on ds's current generation; a sync that only waited for
// expectations must not claim to have observed it.
func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, observed bool) error {
	st, requeue := computeStatus(ds, nodes, nodeToPods, hash, c.clock.Now())
	if observed {
		st.ObservedGeneration = max(ds.Generation, st.ObservedGeneration)
	}
	if requeue > 0 {
		// A second of slack so the next sync lands after the boundary.
		c.queue.AddAfter(keyOf(ds), requeue+time.Second)
	}
	if !statusChanged(ds, &st) {
		return nil
	}
	dsClient := c.client.AppsV1().DaemonSets(ds.Namespace)
	upd := ds.DeepCopy()
	upd.Status = st
	_, err := dsClient.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// Usually our own previous status write, not yet in the cache:
		// retry once on a fresh read, as upstream does, rather than back
		// off.
		fresh, gerr := dsClient.Get(ctx, ds.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("reading daemon set %s/%s: %w", ds.Namespace, ds.Name, gerr)
		}
		if fresh.UID != ds.UID {
			return nil // recreated under the same name; its own sync follows
		}
		st.CollisionCount = fresh.Status.CollisionCount
		st.Conditions = fresh.Status.Conditions
		st.ObservedGeneration = max(st.ObservedGeneration, fresh.Status.ObservedGeneration) // never backwards
		fresh.Status = st
		_, err = dsClient.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("updating status of daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
