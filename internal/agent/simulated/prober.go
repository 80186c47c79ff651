package simulated

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// Prober answers readiness from pod annotations instead of running probes:
// a running container has started at once, and is ready at once unless
// AnnotationReady says "false" (never) or AnnotationReadyAfter delays it.
// Probes in the pod spec are not run: nothing listens in a simulated
// container.
type Prober struct{}

var _ agent.Prober = Prober{}

func (Prober) Probe(pod *corev1.Pod, c *corev1.Container, st agent.ContainerStatus, now time.Time) agent.ProbeResult {
	delay, ok := readiness(pod.Annotations, c.Name)
	if !ok {
		return agent.ProbeResult{Started: true}
	}
	if remaining := st.StartedAt.Add(delay).Sub(now); remaining > 0 {
		return agent.ProbeResult{Started: true, Recheck: remaining}
	}
	return agent.ProbeResult{Started: true, Ready: true}
}
