package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Prober decides whether a running container has started and is ready:
// the job of the kubelet's probe manager (startup and readiness probes).
// The simulated runtime's prober reads pod annotations instead of running
// probes. Liveness is the prober's business too: a prober that finds a
// container dead says so (ProbeResult.Kill) and the agent kills it (its
// preStop hook first) and restarts it per the pod's restartPolicy, as the
// kubelet's sync loop acts on liveness results.
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
	// Kill, when set, says why the container must be killed and
	// restarted: it failed its liveness or startup probe, e.g.
	// "Container app failed liveness probe". KillGracePeriod, when
	// positive, is that probe's terminationGracePeriodSeconds, which
	// overrides the pod's.
	Kill            string
	KillGracePeriod time.Duration
}

// ProbeManager is a Prober that runs probes on its own schedule (the
// real node's, internal/agent/prober). The agent runs it beside its pod
// workers, tells it after each status computation which containers of a
// pod run (so it starts and stops its per-container workers) and when a
// pod is gone or terminating.
type ProbeManager interface {
	Prober
	// Run probes until ctx ends, calling resync with a pod's UID whenever
	// a verdict on one of its containers changes.
	Run(ctx context.Context, resync func(types.UID))
	// UpdatePod says which containers of pod run now (podIP is where
	// network probes go); workers of containers not listed stop.
	UpdatePod(pod *corev1.Pod, podIP string, running []ContainerStatus)
	// RemovePod stops every worker of the pod.
	RemovePod(uid types.UID)
}

// alwaysReady is the prober of an agent configured without one: every
// running container counts as started and ready, as if all its probes
// passed at once.
type alwaysReady struct{}

func (alwaysReady) Probe(*corev1.Pod, *corev1.Container, ContainerStatus, time.Time) ProbeResult {
	return ProbeResult{Started: true, Ready: true}
}
