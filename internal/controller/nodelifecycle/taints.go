package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/component-helpers/node/topology"
	"k8s.io/klog/v2"
)

// The NoExecute taints the controller puts on unhealthy nodes; the not
// ready and unreachable ones mirror Ready=False and Ready=Unknown and are
// mutually exclusive.
var (
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

// conditionTaints maps a node condition in a given status to the
// NoSchedule taint that mirrors it for the scheduler.
var conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeReady:              {corev1.ConditionFalse: corev1.TaintNodeNotReady, corev1.ConditionUnknown: corev1.TaintNodeUnreachable},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
	corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
	corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
}

// controllerNoScheduleKeys are the NoSchedule taint keys this controller
// owns (and may remove).
var controllerNoScheduleKeys = []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeMemoryPressure,
	corev1.TaintNodeDiskPressure, corev1.TaintNodeNetworkUnavailable, corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable}

// noScheduleTaintDiff returns the NoSchedule taints a node should gain and
// lose so that they mirror its conditions and spec.unschedulable.
func noScheduleTaintDiff(node *corev1.Node) (add, remove []corev1.Taint) {
	var want []corev1.Taint
	for _, c := range node.Status.Conditions {
		if key, ok := conditionTaints[c.Type][c.Status]; ok {
			want = append(want, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	var have []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && slices.Contains(controllerNoScheduleKeys, t.Key) {
			have = append(have, t)
		}
	}
	for _, t := range want {
		if !hasTaint(have, t) {
			add = append(add, t)
		}
	}
	for _, t := range have {
		if !hasTaint(want, t) {
			remove = append(remove, t)
		}
	}
	return add, remove
}

// hasTaint matches by key and effect, as taints are identified.
func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	return slices.ContainsFunc(taints, func(x corev1.Taint) bool { return x.MatchTaint(&t) })
}

// withTaints returns taints with add (stamped now, for NoExecute ones)
// and without remove, and whether that changes anything.
func withTaints(taints, add, remove []corev1.Taint, now metav1.Time) ([]corev1.Taint, bool) {
	out := slices.DeleteFunc(slices.Clone(taints), func(t corev1.Taint) bool { return hasTaint(remove, t) })
	changed := len(out) != len(taints)
	for _, t := range add {
		if hasTaint(out, t) {
			continue
		}
		if t.Effect == corev1.TaintEffectNoExecute {
			t.TimeAdded = &now
		}
		out = append(out, t)
		changed = true
	}
	return out, changed
}

func (c *Controller) doNoScheduleTaintingPass(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	add, remove := noScheduleTaintDiff(node)
	if len(add)+len(remove) == 0 {
		return nil
	}
	_, err = c.swapTaints(ctx, node, add, remove)
	return err
}

// swapTaints adds and removes taints on a node with a merge patch of
// spec.taints pinned to the resourceVersion it read: taints have no merge
// key, so the whole list is written and must not overwrite a concurrent
// change. The cached node is tried first; a conflict rereads it. It
// reports whether it wrote anything.
func (c *Controller) swapTaints(ctx context.Context, node *corev1.Node, add, remove []corev1.Taint) (bool, error) {
	for attempt := 1; ; attempt++ {
		taints, changed := withTaints(node.Spec.Taints, add, remove, metav1.NewTime(c.clock.Now()))
		if !changed {
			return false, nil
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
			"spec":     map[string]any{"taints": taints},
		})
		if err != nil {
			return false, err
		}
		_, err = c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return err == nil, nil
		}
		if !apierrors.IsConflict(err) || attempt == healthUpdateRetries {
			return false, fmt.Errorf("updating taints of node %s: %w", node.Name, err)
		}
		if node, err = c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			return false, fmt.Errorf("getting node %s: %w", node.Name, err)
		}
	}
}

// processTaintBasedEviction hands a node whose kubelet says (or said
// last) that it is not Ready to its zone's rate-limited tainter, swaps
// not-ready and unreachable taints at once when the node moves from one
// to the other, and removes both when it is Ready again.
func (c *Controller) processTaintBasedEviction(ctx context.Context, node *corev1.Node, observed corev1.NodeCondition) {
	logger := klog.FromContext(ctx)
	switch observed.Status {
	case corev1.ConditionFalse, corev1.ConditionUnknown:
		want, opposite := notReadyTaint, unreachableTaint
		if observed.Status == corev1.ConditionUnknown {
			want, opposite = unreachableTaint, notReadyTaint
		}
		if hasTaint(node.Spec.Taints, opposite) {
			if _, err := c.swapTaints(ctx, node, []corev1.Taint{want}, []corev1.Taint{opposite}); err != nil {
				logger.Error(err, "Swapping NoExecute taints; will retry next pass", "node", klog.KObj(node))
			}
			return
		}
		if c.markNodeForTainting(node, want) {
			logger.V(2).Info("Node is unhealthy; queued for a NoExecute taint", "node", klog.KObj(node), "ready", observed.Status)
		}
	case corev1.ConditionTrue:
		if err := c.markNodeAsReachable(ctx, node); err != nil {
			logger.Error(err, "Removing NoExecute taints; will retry next pass", "node", klog.KObj(node))
		}
	}
}

// markNodeForTainting queues node in its zone's tainter; an entry for the
// other taint is replaced. It reports whether the node was newly queued.
func (c *Controller) markNodeForTainting(node *corev1.Node, want corev1.Taint) bool {
	c.zoneMu.Lock()
	defer c.zoneMu.Unlock()
	t := c.ensureZone(topology.GetZoneKey(node))
	if !hasTaint(node.Spec.Taints, want) {
		t.remove(node.Name)
	}
	return t.add(node.Name, c.clock.Now())
}

// markNodeAsReachable removes both NoExecute taints and any queued
// tainting of the node.
func (c *Controller) markNodeAsReachable(ctx context.Context, node *corev1.Node) error {
	if _, err := c.swapTaints(ctx, node, nil, []corev1.Taint{unreachableTaint, notReadyTaint}); err != nil {
		return err
	}
	c.zoneMu.Lock()
	defer c.zoneMu.Unlock()
	c.ensureZone(topology.GetZoneKey(node)).remove(node.Name)
	return nil
}

// doNoExecuteTaintingPass taints queued nodes as fast as each zone's rate
// limiter allows. The taint follows the node's Ready condition at the
// time; a node that recovered meanwhile is dropped.
func (c *Controller) doNoExecuteTaintingPass(ctx context.Context) {
	c.zoneMu.Lock()
	tainters := make([]*zoneTainter, 0, len(c.tainters))
	for _, t := range c.tainters {
		tainters = append(tainters, t)
	}
	c.zoneMu.Unlock()
	for _, t := range tainters {
		t.try(c.clock.Now(), func(name string) bool {
			node, err := c.nodeLister.Get(name)
			if apierrors.IsNotFound(err) {
				return true
			}
			var ready *corev1.NodeCondition
			if err == nil {
				ready = findCondition(&node.Status, corev1.NodeReady)
			}
			if ready == nil {
				return false // retried shortly
			}
			want, opposite := notReadyTaint, unreachableTaint
			switch ready.Status {
			case corev1.ConditionUnknown:
				want, opposite = unreachableTaint, notReadyTaint
			case corev1.ConditionTrue:
				return true
			}
			changed, err := c.swapTaints(ctx, node, []corev1.Taint{want}, []corev1.Taint{opposite})
			if err != nil {
				klog.FromContext(ctx).Error(err, "Tainting unhealthy node", "node", klog.KObj(node))
				return false
			}
			if changed {
				klog.FromContext(ctx).Info("Tainted unhealthy node; pods that do not tolerate it will be evicted", "node", klog.KObj(node), "taint", want.Key)
			}
			return true
		})
	}
}
