package podgc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

var everything = labels.Everything()

// Condition upstream's pod GC adds to a pod whose node is gone.
const (
	ReasonDeletionByPodGC = "DeletionByPodGC"
	messageNodeGone       = "PodGC: node no longer exists"
	// evictedReason is what the kubelet writes into status.reason of a
	// pod it evicted.
	evictedReason = "Evicted"
	// deleteParallelism bounds concurrent deletes in one pass.
	deleteParallelism = 8
)

func isTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// terminatedToDelete returns the terminated pods beyond threshold, in the
// order upstream deletes them: evicted pods first (they are of no further
// use to anyone), then oldest first, names breaking ties.
//
// Example: threshold 2 and terminated pods a (oldest), b, c and an evicted
// d (newest) delete d and a.
func terminatedToDelete(pods []*corev1.Pod, threshold int) []*corev1.Pod {
	var terminated []*corev1.Pod
	for _, p := range pods {
		if isTerminated(p) {
			terminated = append(terminated, p)
		}
	}
	n := len(terminated) - threshold
	if n <= 0 {
		return nil
	}
	slices.SortFunc(terminated, func(a, b *corev1.Pod) int {
		ae, be := isEvicted(a), isEvicted(b)
		switch {
		case ae && !be:
			return -1
		case be && !ae:
			return 1
		}
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return terminated[:n]
}

func isEvicted(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed && p.Status.Reason == evictedReason
}

// terminatingOnOutOfServiceNodes returns terminating pods on nodes that
// are not Ready and carry the out-of-service taint.
func terminatingOnOutOfServiceNodes(pods []*corev1.Pod, nodes []*corev1.Node) []*corev1.Pod {
	outOfService := map[string]bool{}
	for _, n := range nodes {
		if !nodeReady(n) && slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeOutOfService }) {
			outOfService[n.Name] = true
		}
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil && outOfService[p.Spec.NodeName] {
			out = append(out, p)
		}
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// unscheduledTerminating returns terminating pods no node was ever bound:
// no kubelet will finish their deletion.
func unscheduledTerminating(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			out = append(out, p)
		}
	}
	return out
}

// quarantine remembers when each node referenced by a pod was first found
// missing from the node cache.
type quarantine map[string]time.Time

// expired records the nodes pods are bound to that the cache does not
// know, forgets nodes that exist again or hold no pods, and returns those
// missing for at least wait: they are worth a GET.
//
// Example: wait 40s; a node first missed at 10:00:00 is returned by every
// pass from 10:00:40 on until it reappears or its pods are gone.
func (q quarantine) expired(pods []*corev1.Pod, nodes []*corev1.Node, now time.Time, wait time.Duration) []string {
	existing := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		existing[n.Name] = true
	}
	referenced := map[string]bool{}
	for _, p := range pods {
		if name := p.Spec.NodeName; name != "" && !existing[name] {
			referenced[name] = true
			if _, ok := q[name]; !ok {
				q[name] = now
			}
		}
	}
	var out []string
	for name, since := range q {
		switch {
		case !referenced[name]:
			delete(q, name)
		case now.Sub(since) >= wait:
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// gcOrphaned deletes pods bound to nodes that are confirmed gone.
func (c *Controller) gcOrphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	logger := klog.FromContext(ctx)
	gone := map[string]bool{}
	for _, name := range c.quarantine.expired(pods, nodes, c.clock.Now(), c.cfg.QuarantineTime) {
		_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			gone[name] = true
		case err != nil:
			// Checked again on the next pass.
			logger.Error(err, "Checking whether node exists", "node", klog.KRef("", name))
		}
	}
	var orphans []*corev1.Pod
	for _, p := range pods {
		if gone[p.Spec.NodeName] {
			orphans = append(orphans, p)
		}
	}
	cond := &corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: ReasonDeletionByPodGC, Message: messageNodeGone}
	c.deleteAll(ctx, orphans, cond, "orphaned")
}

// deleteAll force-deletes pods in parallel; failures are logged and the
// next pass tries again.
func (c *Controller) deleteAll(ctx context.Context, pods []*corev1.Pod, cond *corev1.PodCondition, why string) {
	if len(pods) == 0 {
		return
	}
	logger := klog.FromContext(ctx)
	logger.V(2).Info("Garbage collecting pods", "reason", why, "count", len(pods))
	workqueue.ParallelizeUntil(ctx, deleteParallelism, len(pods), func(i int) {
		if err := c.forceDelete(ctx, pods[i], cond); err != nil {
			logger.Error(err, "Force-deleting pod", "pod", klog.KObj(pods[i]), "reason", why)
		}
	})
}

// forceDelete marks a pod Failed (with cond, when given) unless it is
// already terminal, then deletes it with grace period 0, as upstream's
// markFailedAndDeletePodWithCondition does: without the phase change an
// orphaned pod would read Running until it disappeared, and its Job would
// not count it as failed.
func (c *Controller) forceDelete(ctx context.Context, pod *corev1.Pod, cond *corev1.PodCondition) error {
	klog.FromContext(ctx).Info("Force-deleting pod", "pod", klog.KObj(pod), "node", pod.Spec.NodeName)
	if !isTerminated(pod) {
		patch, err := failedStatusPatch(pod.UID, cond, metav1.NewTime(c.clock.Now()))
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("marking pod %s/%s failed: %w", pod.Namespace, pod.Name, err)
		}
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// failedStatusPatch is a strategic merge patch of the status subresource
// that sets phase Failed and merges cond into the conditions by type. The
// uid pins the patch to the pod that was listed.
func failedStatusPatch(uid types.UID, cond *corev1.PodCondition, now metav1.Time) ([]byte, error) {
	status := map[string]any{"phase": corev1.PodFailed}
	if cond != nil {
		c := *cond
		c.LastTransitionTime = now
		status["conditions"] = []corev1.PodCondition{c}
	}
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": uid},
		"status":   status,
	})
}
