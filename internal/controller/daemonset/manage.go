package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// burstReplicas caps the creates or deletes of one sync, as upstream's
// default does; the rest happen on the next sync, once these are observed.
const burstReplicas = 250

// nodePlan is what one node needs so that it runs exactly the daemon pods
// it should.
type nodePlan struct {
	create bool
	// remove are pods to delete now: excess, evicted or superseded pods.
	remove []*corev1.Pod
	// failed are failed pods to replace; their deletion is rate limited by
	// a per-node back-off so a pod the node keeps rejecting does not loop.
	failed []*corev1.Pod
	// succeeded pods exited; a daemon must keep running, so they go too.
	succeeded []*corev1.Pod
}

// allowsSurge reports whether ds may run an old and a new pod side by side
// on a node during a rolling update.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	surge, err := surgeCount(ds, 1)
	return err == nil && surge > 0
}

// surgeCount and unavailableCount scale the rolling-update limits against
// the number of nodes that should run the daemon, rounding up as upstream
// does. Example: maxUnavailable=25% with 10 such nodes is ceil(2.5) = 3.
func surgeCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
}

func unavailableCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxUnavailable == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
}

// planNode is upstream's podsShouldBeOnNode as a pure function of the
// node, the daemon pods targeting it, and the current revision hash.
func planNode(node *corev1.Node, pods []*corev1.Pod, ds *appsv1.DaemonSet, hash string, now time.Time) nodePlan {
	var plan nodePlan
	shouldRun, shouldContinueRunning := nodeShouldRunDaemonPod(node, ds)
	switch {
	case shouldRun && len(pods) == 0:
		plan.create = true
	case shouldContinueRunning:
		var running []*corev1.Pod
		for _, pod := range pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed:
				plan.failed = append(plan.failed, pod)
			case pod.Status.Phase == corev1.PodSucceeded:
				plan.succeeded = append(plan.succeeded, pod)
			default:
				running = append(running, pod)
			}
		}
		sortOldestFirst(running)
		if !allowsSurge(ds) {
			// One pod per node: keep the oldest. When the node has none
			// running (only failed or terminating pods) the next sync,
			// after they are gone, creates the replacement.
			if len(running) > 1 {
				plan.remove = append(plan.remove, running[1:]...)
			}
			return plan
		}
		plan.remove, plan.create = planSurgeNode(running, ds, hash, shouldRun, now)
	case len(pods) > 0:
		// The node no longer qualifies and its pods may not stay.
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				plan.remove = append(plan.remove, pod)
			}
		}
	}
	return plan
}

// planSurgeNode allows at most two pods on a node while surging: the
// oldest new one and the oldest old one. The old pod goes once the new
// one is available, or at once if the old pod is not ready anyway.
func planSurgeNode(running []*corev1.Pod, ds *appsv1.DaemonSet, hash string, shouldRun bool, now time.Time) (remove []*corev1.Pod, create bool) {
	if len(running) == 0 {
		return nil, shouldRun
	}
	gen := templateGeneration(ds)
	var oldestNew, oldestOld *corev1.Pod
	for _, pod := range running { // oldest first
		switch {
		case isPodUpdated(pod, hash, gen) && oldestNew == nil:
			oldestNew = pod
		case !isPodUpdated(pod, hash, gen) && oldestOld == nil:
			oldestOld = pod
		default:
			remove = append(remove, pod)
		}
	}
	if oldestNew != nil && oldestOld != nil &&
		(!isPodReady(oldestOld) || isPodAvailable(oldestNew, ds.Spec.MinReadySeconds, now)) {
		remove = append(remove, oldestOld)
	}
	return remove, false
}

// unscheduledOnMissingNodes returns unscheduled pods pinned to nodes that
// no longer exist: they can never be scheduled, and pod garbage collection
// only handles pods bound to a missing node.
func unscheduledOnMissingNodes(nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod) []*corev1.Pod {
	exists := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		exists[n.Name] = true
	}
	var out []*corev1.Pod
	for name, pods := range nodeToPods {
		if exists[name] {
			continue
		}
		for _, pod := range pods {
			if pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil {
				out = append(out, pod)
			}
		}
	}
	return out
}

// syncNodes deletes pods and creates one pod on each node in createOn,
// recording expectations first so that the informer events they cause,
// and not a lagging cache, decide the next sync.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, key string, remove []*corev1.Pod, createOn []string, hash string) error {
	createOn = createOn[:min(len(createOn), burstReplicas)]
	remove = remove[:min(len(remove), burstReplicas)]
	if len(createOn) > 0 {
		c.expectations.ExpectCreations(key, len(createOn))
	}
	if len(remove) > 0 {
		keys := make([]string, len(remove))
		for i, p := range remove {
			keys[i] = p.Namespace + "/" + p.Name
		}
		c.expectations.ExpectDeletions(key, keys)
	}
	createErr := c.createPods(ctx, ds, key, createOn, hash)
	deleteErr := c.deletePods(ctx, ds, key, remove)
	return errors.Join(createErr, deleteErr)
}

func (c *Controller) createPods(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []string, hash string) error {
	if len(nodes) == 0 {
		return nil
	}
	template := podTemplate(ds, hash)
	ref := metav1.NewControllerRef(ds, controllerKind)
	var next, attempted atomic.Int32
	created, err := podcontrol.SlowStartBatch(len(nodes), podcontrol.SlowStartInitialBatchSize, func() error {
		attempted.Add(1)
		node := nodes[next.Add(1)-1]
		pod := podcontrol.PodFromTemplate(template, ds, ref)
		pod.Spec.Affinity = nodeAffinityFor(pod.Spec.Affinity, node)
		if _, err := c.podControl.Create(ctx, pod, ds); err != nil {
			// The add event for this pod will never come.
			c.expectations.CreationObserved(key)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			return fmt.Errorf("creating daemon pod for node %s: %w", node, err)
		}
		return nil
	})
	// Creates a failed batch stopped short of were never sent.
	for range len(nodes) - int(attempted.Load()) {
		c.expectations.CreationObserved(key)
	}
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Slow-start creation stopped", "daemonset", klog.KObj(ds), "created", created, "wanted", len(nodes))
	}
	return err
}

func (c *Controller) deletePods(ctx context.Context, ds *appsv1.DaemonSet, key string, pods []*corev1.Pod) error {
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, pod := range pods {
		wg.Go(func() {
			podKey := pod.Namespace + "/" + pod.Name
			if err := c.podControl.Delete(ctx, pod.Namespace, pod.Name, ds); err != nil {
				c.expectations.DeletionObserved(key, podKey)
				errs[i] = err
				return
			}
			// Delete also succeeds for a pod that was already gone, whose
			// delete event may have come and gone before the expectation
			// was set. If the cache no longer has it, count it now
			// (DeletionObserved is idempotent per pod).
			if cur, err := c.podLister.Pods(pod.Namespace).Get(pod.Name); err != nil || cur.UID != pod.UID {
				c.expectations.DeletionObserved(key, podKey)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
