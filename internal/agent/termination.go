package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// maxTerminationGate bounds how long a deleted pod waits for the data
// path to stop sending it traffic, whatever its grace period: endpoint
// removal normally takes milliseconds, and a gate that cannot tell must
// not hold containers up for long.
const maxTerminationGate = 5 * time.Second

// awaitTermination runs Config.TerminationGate for a deleted pod that
// still runs containers, so that it stops receiving new connections
// before its containers get preStop and SIGTERM: what upstream users get
// only by adding a preStop sleep. It returns the grace period left for
// stopping the containers.
func (a *Agent) awaitTermination(ctx context.Context, pod *corev1.Pod, st podState, grace time.Duration) time.Duration {
	if a.cfg.TerminationGate == nil || len(st.running()) == 0 || pod.Status.PodIP == "" {
		return grace
	}
	limit := min(grace/2, maxTerminationGate)
	if limit <= 0 {
		return grace
	}
	gateCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	begin := a.cfg.Clock.Now()
	if err := a.cfg.TerminationGate(gateCtx, pod); err != nil && ctx.Err() == nil {
		a.log.Debug("Stopping a pod before its endpoints were seen removed", "pod", podDescription(pod), "err", err)
	}
	return grace - a.cfg.Clock.Since(begin)
}
