package nodelifecycle

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeHealth is what the controller last saw of a node's heartbeats, with
// its own clock's time of seeing them: the node's timestamps are never
// compared with ours, so clock skew between machines does not matter.
type nodeHealth struct {
	// probeTime is when a heartbeat (a new Ready heartbeat time in the
	// status, or a renewed lease) was last seen.
	probeTime time.Time
	// readyTransitionTime is when the Ready condition was last seen to
	// change.
	readyTransitionTime time.Time
	status              *corev1.NodeStatus
	lease               *coordinationv1.Lease
}

// healthMap holds the nodeHealth of every known node.
type healthMap struct {
	mu     sync.RWMutex
	health map[string]*nodeHealth
}

func newHealthMap() *healthMap { return &healthMap{health: map[string]*nodeHealth{}} }

// get returns a copy, so callers may keep it while others update.
func (m *healthMap) get(name string) *nodeHealth {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h := m.health[name]
	if h == nil {
		return nil
	}
	c := *h
	return &c
}

func (m *healthMap) set(name string, h *nodeHealth) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.health[name] = h
}

func (m *healthMap) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.health, name)
}

func (m *healthMap) names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.health))
	for n := range m.health {
		out = append(out, n)
	}
	return out
}

func findCondition(status *corev1.NodeStatus, t corev1.NodeConditionType) *corev1.NodeCondition {
	if status == nil {
		return nil
	}
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// observeHealth folds what node and its lease show now into saved (nil
// for a node not seen before) and returns the new record and the grace
// period the node is entitled to.
//
// Example: grace 50s; the lease is renewed at 10:00:00 (we see it then)
// and never again: the node is overdue from 10:00:50 on, whatever times
// its own clock wrote.
func observeHealth(saved *nodeHealth, node *corev1.Node, lease *coordinationv1.Lease, now time.Time, monitorGrace, startupGrace time.Duration) (*nodeHealth, time.Duration) {
	grace := monitorGrace
	current := findCondition(&node.Status, corev1.NodeReady)
	if current == nil {
		// Never posted status: counted from creation, with the longer
		// startup grace period.
		grace = startupGrace
		if saved == nil {
			created := node.CreationTimestamp.Time
			saved = &nodeHealth{probeTime: created, readyTransitionTime: created}
		}
		h := *saved
		h.status = &node.Status
		saved = &h
	}
	var savedCond *corev1.NodeCondition
	var savedLease *coordinationv1.Lease
	if saved != nil {
		savedCond = findCondition(saved.status, corev1.NodeReady)
		savedLease = saved.lease
	}
	h := saved
	switch {
	case saved == nil,
		savedCond == nil && current != nil,
		// The Ready condition disappeared: treat as new, as upstream does.
		savedCond != nil && current == nil:
		h = &nodeHealth{status: &node.Status, probeTime: now, readyTransitionTime: now, lease: savedLease}
	case savedCond != nil && current != nil && !savedCond.LastHeartbeatTime.Equal(&current.LastHeartbeatTime):
		transition := saved.readyTransitionTime
		if !savedCond.LastTransitionTime.Equal(&current.LastTransitionTime) {
			transition = now
		}
		h = &nodeHealth{status: &node.Status, probeTime: now, readyTransitionTime: transition, lease: savedLease}
	}
	// A renewed lease is a heartbeat too. A node that renews its lease but
	// never posts status is taken as healthy, as upstream does.
	if lease != nil && lease.Spec.RenewTime != nil &&
		(savedLease == nil || savedLease.Spec.RenewTime == nil || savedLease.Spec.RenewTime.Before(lease.Spec.RenewTime)) {
		c := *h
		c.lease, c.probeTime = lease, now
		h = &c
	}
	return h, grace
}

// conditionsSetUnknown are the conditions a silent node's kubelet owns;
// NetworkUnavailable is the control plane's and is left alone.
var conditionsSetUnknown = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

// Reasons and messages upstream writes on conditions of a silent node.
const (
	ReasonNodeStatusUnknown      = "NodeStatusUnknown"
	ReasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	messageStoppedPosting        = "Kubelet stopped posting node status."
	messageNeverPosted           = "Kubelet never posted node status."
)

// markUnknown sets the kubelet-owned conditions of a node whose heartbeats
// stopped to Unknown, keeping their heartbeat times (the last ones seen),
// and adds those never posted.
func markUnknown(node *corev1.Node, now metav1.Time) {
	for _, t := range conditionsSetUnknown {
		c := findCondition(&node.Status, t)
		if c == nil {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown,
				Reason: ReasonNodeStatusNeverUpdated, Message: messageNeverPosted,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now})
			continue
		}
		if c.Status != corev1.ConditionUnknown {
			c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, ReasonNodeStatusUnknown, messageStoppedPosting, now
		}
	}
}
