package servicepods

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TriggerTimeTracker computes the endpoints.kubernetes.io/last-change-trigger-time
// annotation: the time of the earliest change (a pod's Ready transition,
// or the Service's creation) that a write reflects and no earlier write
// did. Consumers measure end-to-end programming latency from it.
//
// Worked example: the first sync of a Service created at 10:00 reports
// 10:00. Later, pod a turns ready at 10:05 and pod b at 10:06, and one sync
// sees both: it reports 10:05, the earliest unreported change. A sync that
// sees no new transition reports the zero time (the annotation is removed).
type TriggerTimeTracker struct {
	mu    sync.Mutex
	state map[string]*triggerState // "namespace/name" -> last seen times
}

type triggerState struct {
	pods    map[string]time.Time
	service time.Time
}

// NewTriggerTimeTracker returns an empty tracker.
func NewTriggerTimeTracker() *TriggerTimeTracker {
	return &TriggerTimeTracker{state: map[string]*triggerState{}}
}

// Compute returns the trigger time for a sync of svc over pods and records
// what it saw.
func (t *TriggerTimeTracker) Compute(svc *corev1.Service, pods []*corev1.Pod) time.Time {
	key := svc.Namespace + "/" + svc.Name
	t.mu.Lock()
	defer t.mu.Unlock()
	st, known := t.state[key]
	if !known {
		st = &triggerState{pods: map[string]time.Time{}}
		t.state[key] = st
	}
	var earliest time.Time
	seen := make(map[string]time.Time, len(pods))
	for _, pod := range pods {
		c := ReadyCondition(pod)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		ts := c.LastTransitionTime.Time
		seen[pod.Name] = ts
		if ts.After(st.pods[pod.Name]) && (earliest.IsZero() || ts.Before(earliest)) {
			earliest = ts
		}
	}
	created := svc.CreationTimestamp.Time
	if created.After(st.service) && (earliest.IsZero() || created.Before(earliest)) {
		earliest = created
	}
	st.pods, st.service = seen, created
	if !known {
		return created
	}
	return earliest
}

// Delete forgets a Service.
func (t *TriggerTimeTracker) Delete(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.state, namespace+"/"+name)
}
