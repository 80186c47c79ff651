package daemonset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// sync brings one DaemonSet's pods in line with the nodes: create where
// missing, delete where not wanted, then one step of the rolling update,
// then status. Each write's informer event brings the key back.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key can never succeed
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading daemon set %s: %w", key, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || selector.Empty() {
		// Validation rejects these; one that got through stays broken
		// until edited, so report it rather than retry.
		c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonSelectingAll, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	// While the DaemonSet is being deleted the garbage collector may
	// already have removed its revisions; status could not be trusted.
	if ds.DeletionTimestamp != nil {
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	pods, err := c.claimPods(ctx, ds, selector)
	if err != nil {
		return err
	}
	cur, old, err := c.constructHistory(ctx, ds, selector, pods)
	if err != nil {
		return fmt.Errorf("constructing revisions of daemon set %s: %w", key, err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	nodeToPods := groupByNode(pods)
	if !c.expectations.Satisfied(key) {
		return c.writeStatus(ctx, ds, nodes, nodeToPods, hash, false)
	}
	// This pass acted on ds's generation even if a write failed (as
	// upstream counts it); the failure is retried with back-off.
	err = c.update(ctx, ds, key, nodes, nodeToPods, hash, old, pods)
	return errors.Join(err, c.writeStatus(ctx, ds, nodes, nodeToPods, hash, true))
}

// groupByNode maps node names to the daemon pods meant for them.
func groupByNode(pods []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		node, err := targetNode(pod)
		if err != nil {
			continue // not a daemon pod we made; never ours to place
		}
		out[node] = append(out[node], pod)
	}
	return out
}

func (c *Controller) update(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	acted, err := c.manage(ctx, ds, key, nodes, nodeToPods, hash)
	if err != nil {
		return err
	}
	// Roll only when manage had nothing to do: its pod snapshot is stale
	// once it acted, and the events of its writes bring the key back.
	if !acted && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if err := c.rollingUpdate(ctx, ds, key, nodes, nodeToPods, hash); err != nil {
			return err
		}
	}
	if err := c.cleanupHistory(ctx, ds, old, pods); err != nil {
		return fmt.Errorf("cleaning up revisions: %w", err)
	}
	return nil
}

// manage creates the pods nodes lack and deletes the ones they must not
// run; acted says whether it asked for anything.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) (acted bool, err error) {
	now := c.clock.Now()
	var createOn []string
	var remove []*corev1.Pod
	for _, node := range nodes {
		plan := planNode(node, nodeToPods[node.Name], ds, hash, now)
		if plan.create {
			createOn = append(createOn, node.Name)
		}
		remove = append(remove, plan.remove...)
		for _, pod := range plan.succeeded {
			c.recorder.Eventf(ds, corev1.EventTypeNormal, ReasonSucceededDaemonPod,
				"Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node.Name)
			remove = append(remove, pod)
		}
		for _, pod := range plan.failed {
			if !c.failedPodMayGo(ds, node.Name) {
				continue
			}
			c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonFailedDaemonPod,
				"Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
			remove = append(remove, pod)
		}
	}
	remove = append(remove, unscheduledOnMissingNodes(nodes, nodeToPods)...)
	if len(createOn) > 0 || len(remove) > 0 {
		klog.FromContext(ctx).V(4).Info("Syncing daemon pods", "daemonset", klog.KObj(ds), "create", len(createOn), "delete", len(remove))
	}
	return len(createOn) > 0 || len(remove) > 0, c.syncNodes(ctx, ds, key, remove, createOn, hash)
}

// failedPodMayGo applies the per-node back-off to replacing failed pods: a
// node that rejects the pod would otherwise see a create/fail/delete loop
// as fast as the API allows. When backing off, the sync is retried after
// the remaining delay.
func (c *Controller) failedPodMayGo(ds *appsv1.DaemonSet, node string) bool {
	id := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node)
	now := c.clock.Now()
	if c.failedBackoff.IsInBackOffSinceUpdate(id, now) {
		c.queue.AddAfter(keyOf(ds), c.failedBackoff.Get(id))
		return false
	}
	c.failedBackoff.Next(id, now)
	return true
}

func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) error {
	shouldRun := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		shouldRun[n.Name], _ = nodeShouldRunDaemonPod(n, ds)
	}
	remove, createOn, err := planRollingUpdate(ds, nodeToPods, shouldRun, hash, c.clock.Now())
	if err != nil {
		// An invalid intstr is a spec error; retrying will not fix it.
		c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonInvalidRollingUpdate, "%v", err)
		return nil
	}
	return c.syncNodes(ctx, ds, key, remove, createOn, hash)
}
