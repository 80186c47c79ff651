package agent

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Prober decides whether a running container has started and is ready:
// the job of the kubelet's probe manager (startup and readiness probes).
// The simulated runtime's prober reads pod annotations instead of running
// probes. Liveness is the prober's business too: a prober that finds a
// container dead stops it through the runtime, and the exit reaches the
// agent as a runtime event.
type Prober interface {
	Probe(pod *corev1.Pod, container *corev1.Container, status ContainerStatus, now time.Time) ProbeResult
}

// ProbeResult is a prober's verdict on one running container.
type ProbeResult struct {
	Started bool
	Ready   bool
	// Recheck, when positive, is how long until the verdict may change on
	// its own (a readiness delay running out); the agent syncs the pod
	// again then. A prober whose results change asynchronously notifies
	// the agent with Agent.Resync instead.
	Recheck time.Duration
}

// alwaysReady is the prober of an agent configured without one: every
// running container counts as started and ready, as if all its probes
// passed at once.
type alwaysReady struct{}

func (alwaysReady) Probe(*corev1.Pod, *corev1.Container, ContainerStatus, time.Time) ProbeResult {
	return ProbeResult{Started: true, Ready: true}
}
