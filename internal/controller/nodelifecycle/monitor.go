package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/node/topology"
	"k8s.io/klog/v2"
)

const (
	// healthUpdateRetries bounds the status writes per node per pass.
	healthUpdateRetries = 5
	// monitorParallelism bounds how many nodes one pass handles at once;
	// marking pods not ready is a write per pod.
	monitorParallelism = 8
	// labelExcludeDisruption keeps a node out of the zone health counts.
	labelExcludeDisruption = "node.kubernetes.io/exclude-disruption"
)

// monitorNodeHealth is one pass over every node: it marks silent nodes
// Unknown, hands unhealthy ones to the zone tainters, marks pods on newly
// unhealthy nodes not ready, and updates the zones' disruption states.
func (c *Controller) monitorNodeHealth(ctx context.Context) error {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	c.trackNodes(ctx, nodes)

	var mu sync.Mutex
	zoneReady := map[string][]*corev1.NodeCondition{}
	workqueue.ParallelizeUntil(ctx, monitorParallelism, len(nodes), func(i int) {
		node := nodes[i].DeepCopy()
		observed, current, err := c.updateNodeHealth(ctx, node)
		if err != nil {
			klog.FromContext(ctx).Error(err, "Updating node health; no pods will be evicted from it this pass", "node", klog.KObj(node))
			return
		}
		if _, excluded := node.Labels[labelExcludeDisruption]; !excluded {
			mu.Lock()
			zone := topology.GetZoneKey(node)
			zoneReady[zone] = append(zoneReady[zone], current)
			mu.Unlock()
		}
		if current != nil {
			c.handleReadiness(ctx, node, observed, current)
		}
	})
	c.handleDisruption(ctx, zoneReady, nodes)
	return nil
}

// trackNodes records nodes that appeared or disappeared since the last
// pass.
func (c *Controller) trackNodes(ctx context.Context, nodes []*corev1.Node) {
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.Name] = true
		c.zoneMu.Lock()
		_, known := c.knownNodes[n.Name]
		c.knownNodes[n.Name] = n
		c.ensureZone(topology.GetZoneKey(n))
		c.zoneMu.Unlock()
		if !known {
			klog.FromContext(ctx).V(1).Info("Observed a new node", "node", klog.KObj(n))
			c.recordNodeEvent(n, corev1.EventTypeNormal, ReasonRegisteredNode, fmt.Sprintf("Registered Node %v in Controller", n.Name))
			// A restarted controller starts from a clean slate: taints are
			// added back by the next passes if the node is still unhealthy.
			if err := c.markNodeAsReachable(ctx, n); err != nil {
				klog.FromContext(ctx).Error(err, "Removing NoExecute taints of a new node", "node", klog.KObj(n))
			}
		}
	}
	c.zoneMu.Lock()
	var gone []*corev1.Node
	for name, n := range c.knownNodes {
		if !seen[name] {
			gone = append(gone, n)
			delete(c.knownNodes, name)
		}
	}
	c.zoneMu.Unlock()
	for _, n := range gone {
		klog.FromContext(ctx).V(1).Info("Observed a node deletion", "node", klog.KObj(n))
		c.recordNodeEvent(n, corev1.EventTypeNormal, ReasonRemovingNode, fmt.Sprintf("Removing Node %v from Controller", n.Name))
		c.health.remove(n.Name)
	}
}

// updateNodeHealth folds the node's heartbeats into its health record and
// marks it Unknown if they stopped, retrying a failed status write on a
// fresh copy. It returns the Ready condition as the kubelet left it
// (observed) and as it is now (current; nil if never posted).
func (c *Controller) updateNodeHealth(ctx context.Context, node *corev1.Node) (corev1.NodeCondition, *corev1.NodeCondition, error) {
	var err error
	for attempt := 1; ; attempt++ {
		var observed corev1.NodeCondition
		var current *corev1.NodeCondition
		observed, current, err = c.tryUpdateNodeHealth(ctx, node)
		if err == nil || attempt == healthUpdateRetries {
			return observed, current, err
		}
		if node, err = c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			return observed, current, fmt.Errorf("getting node %s: %w", node.Name, err)
		}
	}
}

func (c *Controller) tryUpdateNodeHealth(ctx context.Context, node *corev1.Node) (corev1.NodeCondition, *corev1.NodeCondition, error) {
	now := c.clock.Now()
	observed := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
		LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: node.CreationTimestamp}
	if cur := findCondition(&node.Status, corev1.NodeReady); cur != nil {
		observed = *cur
	}
	lease, _ := c.leaseLister.Leases(corev1.NamespaceNodeLease).Get(node.Name)
	h, grace := observeHealth(c.health.get(node.Name), node, lease, now, c.cfg.NodeMonitorGracePeriod, c.cfg.NodeStartupGracePeriod)
	defer func() { c.health.set(node.Name, h) }()
	if !now.After(h.probeTime.Add(grace)) {
		return observed, findCondition(&node.Status, corev1.NodeReady), nil
	}
	markUnknown(node, metav1.NewTime(now))
	current := findCondition(&node.Status, corev1.NodeReady)
	if equality.Semantic.DeepEqual(current, &observed) {
		return observed, current, nil
	}
	klog.FromContext(ctx).Info("Node stopped posting status; marking it Unknown", "node", klog.KObj(node), "silentFor", now.Sub(h.probeTime))
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return observed, current, fmt.Errorf("marking node %s Unknown: %w", node.Name, err)
	}
	h = &nodeHealth{status: &node.Status, probeTime: h.probeTime, readyTransitionTime: now, lease: h.lease}
	return observed, current, nil
}

// handleReadiness acts on a node's Ready condition: taint-based eviction
// from the kubelet's last word, and, when the node just stopped being
// Ready, marking its pods not ready.
func (c *Controller) handleReadiness(ctx context.Context, node *corev1.Node, observed corev1.NodeCondition, current *corev1.NodeCondition) {
	logger := klog.FromContext(ctx)
	c.processTaintBasedEviction(ctx, node, observed)
	_, retry := c.nodesToRetry.Load(node.Name)
	transitioned := current.Status != corev1.ConditionTrue && observed.Status == corev1.ConditionTrue
	if transitioned {
		c.recordNodeEvent(node, corev1.EventTypeNormal, ReasonNodeNotReady, fmt.Sprintf("Node %s status is now: %s", node.Name, ReasonNodeNotReady))
	}
	if transitioned || (retry && observed.Status != corev1.ConditionTrue) {
		pods, err := podsOnNode(c.podIndexer, node.Name)
		if err == nil {
			err = c.markPodsNotReady(ctx, pods, node.Name)
		}
		if err != nil {
			logger.Error(err, "Marking pods not ready; will retry", "node", klog.KObj(node))
			c.nodesToRetry.Store(node.Name, struct{}{})
			return
		}
	}
	c.nodesToRetry.Delete(node.Name)
}

// markPodsNotReady sets the Ready condition of the node's pods to False:
// nothing vouches for them any more. Pods without a Ready condition, or
// already not ready, are left alone.
func (c *Controller) markPodsNotReady(ctx context.Context, pods []*corev1.Pod, nodeName string) error {
	var errs []error
	now := metav1.NewTime(c.clock.Now())
	for _, pod := range pods {
		if pod.Spec.NodeName != nodeName {
			continue
		}
		var ready *corev1.PodCondition
		for i := range pod.Status.Conditions {
			if pod.Status.Conditions[i].Type == corev1.PodReady {
				ready = &pod.Status.Conditions[i]
			}
		}
		if ready == nil || ready.Status == corev1.ConditionFalse {
			continue
		}
		patch, err := podConditionPatch(pod.UID, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now})
		if err != nil {
			return err
		}
		klog.FromContext(ctx).V(2).Info("Marking pod not ready", "pod", klog.KObj(pod), "node", nodeName)
		_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("marking pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// podConditionPatch is a strategic merge patch of the status subresource
// that merges cond into the pod's conditions by type, pinned to uid.
func podConditionPatch(uid types.UID, cond corev1.PodCondition) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": uid},
		"status":   map[string]any{"conditions": []corev1.PodCondition{cond}},
	})
}

func (c *Controller) recordNodeEvent(node *corev1.Node, eventType, reason, message string) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	c.recorder.Event(ref, eventType, reason, message)
}
