package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// conflictRetries bounds how often one status write is recomputed after a
// conflict before the sync is retried with back-off.
const conflictRetries = 3

// basis returns the pod as the agent last saw or wrote it: the cached pod,
// or, while the cache has not yet caught up with the agent's own last
// write, a copy carrying that write's status and resourceVersion. Without
// it, every pod event arriving between a write and its echo would make the
// agent write the same status again.
func (a *Agent) basis(pod *corev1.Pod) *corev1.Pod {
	a.mu.Lock()
	w, ok := a.written[pod.UID]
	if ok && w.basedOn != pod.ResourceVersion {
		// The cache moved past the write; it is the truth again.
		delete(a.written, pod.UID)
		ok = false
	}
	a.mu.Unlock()
	if !ok {
		return pod
	}
	b := pod.DeepCopy()
	b.ResourceVersion = w.resourceVersion
	b.Status = *w.status.DeepCopy()
	return b
}

// updateStatus computes the pod's status from the runtime state and
// writes it if it differs from the basis. A conflict (someone else wrote
// the pod) re-reads it and recomputes: the status carries the other
// writer's conditions forward. It returns when a readiness verdict will
// change on its own.
func (a *Agent) updateStatus(ctx context.Context, pod *corev1.Pod, st podState, opts statusOpts) (time.Duration, error) {
	cur := a.basis(pod)
	cachedRV := pod.ResourceVersion
	for range conflictRetries {
		status, recheck := a.computeStatusRecheck(cur, &cur.Status, st, opts)
		if apiequality.Semantic.DeepEqual(cur.Status, status) {
			return recheck, nil
		}
		upd := cur.DeepCopy()
		upd.Status = status
		res, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		switch {
		case err == nil:
			a.mu.Lock()
			a.written[pod.UID] = writtenStatus{basedOn: cachedRV, resourceVersion: res.ResourceVersion, status: res.Status}
			a.mu.Unlock()
			return recheck, nil
		case apierrors.IsNotFound(err):
			return 0, nil // deleted meanwhile; the delete event brings it back
		case !apierrors.IsConflict(err):
			return 0, fmt.Errorf("updating status of %s: %w", podDescription(pod), err)
		}
		fresh, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && fresh.UID != pod.UID) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("re-reading %s after a conflict: %w", podDescription(pod), err)
		}
		cur = fresh
	}
	return 0, fmt.Errorf("updating status of %s: still conflicting after %d attempts", podDescription(pod), conflictRetries)
}

// deletePod deletes a terminated pod with grace period 0: the agent's
// word that its containers are gone, which lets the API server remove it.
// The UID precondition keeps it from deleting a new pod of the same name.
func (a *Agent) deletePod(ctx context.Context, pod *corev1.Pod) error {
	err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: ptr.To(pod.UID)},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting %s: %w", podDescription(pod), err)
	}
	a.mu.Lock()
	a.deleted[pod.UID] = true
	a.mu.Unlock()
	return nil
}

func (a *Agent) isDeleted(uid types.UID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.deleted[uid]
}
