package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/agent/prober/action"
)

// Event and waiting reasons of lifecycle hooks, as the kubelet names them.
const (
	EventFailedPostStartHook = "FailedPostStartHook"
	EventFailedPreStopHook   = "FailedPreStopHook"
	ReasonPostStartHookError = "PostStartHookError"
)

// minGraceAfterPreStop is what a container still gets to stop on SIGTERM
// after a preStop hook used up its grace period (the kubelet's
// minimumGracePeriodInSeconds).
const minGraceAfterPreStop = 2 * time.Second

// hooksEnabled: lifecycle hooks run only on a runtime that can exec into
// its containers. The simulated runtime cannot, and its containers are no
// processes an httpGet or sleep hook would mean anything to; running them
// there would only fail (and kill) simulated containers.
func (a *Agent) hooksEnabled() bool {
	_, ok := a.runtime.(Execer)
	return ok
}

// postStart runs c's postStart hook, if any, right after the container
// started; the sync waits for it, so the container is reported running
// only once it is done. On failure the container is killed (and restarts
// per restartPolicy) and the error says why.
func (a *Agent) postStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, podIPs []string) error {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil || !a.hooksEnabled() {
		return nil
	}
	ip := a.primaryIP(pod, podIPs)
	hctx, cancel := context.WithCancel(ctx)
	a.mu.Lock()
	a.postStartCancels[pod.UID] = cancel
	a.mu.Unlock()
	err := a.runHook(hctx, c, id, ip, c.Lifecycle.PostStart)
	a.mu.Lock()
	delete(a.postStartCancels, pod.UID)
	a.mu.Unlock()
	cancel()
	if err == nil {
		return nil
	}
	msg := hookFailure("PostStart", c.Lifecycle.PostStart, c.Name, pod, err)
	a.event(pod, corev1.EventTypeWarning, EventFailedPostStartHook, "%s", msg)
	killMsg := fmt.Sprintf("Container %s failed its postStart hook, will be restarted", c.Name)
	if kerr := a.killContainer(ctx, pod, ContainerStatus{ID: id, Name: c.Name}, ip, gracePeriod(pod), killMsg); kerr != nil {
		return errors.Join(errors.New(msg), kerr)
	}
	return errors.New(msg)
}

// interruptPostStart cancels the postStart hook pod uid's sync waits on
// if the pod is being deleted or gone, as the kubelet cancels a sync in
// progress when the pod is killed: a hook that never ends must not keep a
// deleted pod's containers running.
func (a *Agent) interruptPostStart(uid types.UID) {
	a.mu.Lock()
	cancel := a.postStartCancels[uid]
	a.mu.Unlock()
	if cancel == nil {
		return
	}
	if pod := a.pods.get(a.cfg.NodeName, uid); pod == nil || pod.DeletionTimestamp != nil {
		cancel()
	}
}

// killContainer stops one running container the way the kubelet kills
// it: a Killing event, the preStop hook within the grace period, then
// StopContainer with what is left of it (SIGTERM, SIGKILL at the end).
func (a *Agent) killContainer(ctx context.Context, pod *corev1.Pod, c ContainerStatus, podIP string, grace time.Duration, message string) error {
	a.event(pod, corev1.EventTypeNormal, EventKilling, "%s", message)
	if spec := containerSpec(pod, c.Name); spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 && a.hooksEnabled() {
		grace = a.preStop(ctx, pod, spec, c.ID, podIP, grace)
	}
	if err := a.runtime.StopContainer(ctx, c.ID, grace); err != nil {
		return fmt.Errorf("stopping container %s of %s: %w", c.Name, podDescription(pod), err)
	}
	return nil
}

// preStop runs spec's preStop hook, bounded by grace, and returns the
// grace period left for StopContainer.
//
// Worked example: grace 30s and a preStop hook that sleeps 5s leave 25s
// between SIGTERM and SIGKILL; a hook that takes all 30s (and is cut off)
// leaves the 2s minimum.
func (a *Agent) preStop(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, id, podIP string, grace time.Duration) time.Duration {
	begin := a.cfg.Clock.Now()
	hctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if err := a.runHook(hctx, spec, id, podIP, spec.Lifecycle.PreStop); err != nil {
		a.event(pod, corev1.EventTypeWarning, EventFailedPreStopHook, "%s", hookFailure("PreStop", spec.Lifecycle.PreStop, spec.Name, pod, err))
	}
	left := grace - a.cfg.Clock.Since(begin)
	if left < minGraceAfterPreStop {
		left = minGraceAfterPreStop
	}
	return left
}

// runHook runs one lifecycle handler against a running container; the
// exec and httpGet handlers are the probes' own (prober/action).
func (a *Agent) runHook(ctx context.Context, c *corev1.Container, id, podIP string, h *corev1.LifecycleHandler) error {
	t := action.Target{Container: c, ContainerID: id, PodIP: podIP}
	switch {
	case h.Exec != nil:
		e, _ := a.runtime.(Execer)
		return action.ExecHook(ctx, e, h.Exec.Command, t)
	case h.HTTPGet != nil:
		return action.HTTPGetHook(ctx, h.HTTPGet, t)
	case h.Sleep != nil:
		select {
		case <-a.cfg.Clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return nil
		case <-ctx.Done():
			return errors.New("container terminated before sleep hook finished")
		}
	}
	// tcpSocket is accepted by the API for compatibility only; upstream
	// fails it at run time too.
	return fmt.Errorf("invalid lifecycle handler: %+v", *h)
}

// hookFailure words a failed hook as the kubelet's events do.
func hookFailure(hook string, h *corev1.LifecycleHandler, container string, pod *corev1.Pod, err error) string {
	what := "Sleep"
	switch {
	case h.Exec != nil:
		what = fmt.Sprintf("Exec lifecycle hook (%v)", h.Exec.Command)
	case h.HTTPGet != nil:
		what = fmt.Sprintf("HTTP lifecycle hook (%s)", h.HTTPGet.Path)
	}
	return fmt.Sprintf("%s hook failed: %s for Container %q in Pod %q failed - error: %v", hook, what, container, podDescription(pod), err)
}

// killUnhealthy kills the running containers the prober condemned
// (liveness or startup probe failed past failureThreshold); the sync then
// restarts them per restartPolicy, with back-off, as it would any exit.
// It reports whether it killed any.
func (a *Agent) killUnhealthy(ctx context.Context, pod *corev1.Pod, st podState) (bool, error) {
	killed := false
	for _, c := range st.running() {
		r := a.probe(pod, &c)
		if r.Kill == "" {
			continue
		}
		grace := gracePeriod(pod)
		if r.KillGracePeriod > 0 {
			grace = r.KillGracePeriod
		}
		if err := a.killContainer(ctx, pod, c, a.primaryIP(pod, sandboxIPs(st)), grace, r.Kill+", will be restarted"); err != nil {
			return killed, err
		}
		killed = true
	}
	return killed, nil
}

// killAll kills the given containers at once, each with the full grace
// period, as the kubelet kills a pod's containers in parallel.
func (a *Agent) killAll(ctx context.Context, pod *corev1.Pod, containers []ContainerStatus, podIP string, grace time.Duration) error {
	if len(containers) == 1 { // the common case needs no goroutine
		return a.killContainer(ctx, pod, containers[0], podIP, grace, "Stopping container "+containers[0].Name)
	}
	errs := make([]error, len(containers))
	var wg sync.WaitGroup
	for i, c := range containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.killContainer(ctx, pod, c, podIP, grace, "Stopping container "+c.Name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// primaryIP is where hooks and probes reach the pod: its primary IP, the
// node's for a host-network pod.
func (a *Agent) primaryIP(pod *corev1.Pod, podIPs []string) string {
	switch {
	case len(podIPs) > 0:
		return podIPs[0]
	case pod.Spec.HostNetwork && len(a.hostIPs) > 0:
		return a.hostIPs[0]
	case pod.Status.PodIP != "":
		return pod.Status.PodIP
	}
	return ""
}

// updateProbes tells a ProbeManager which containers of a live pod run.
func (a *Agent) updateProbes(pod *corev1.Pod, st podState, podIPs []string) {
	if pm, ok := a.cfg.Prober.(ProbeManager); ok {
		pm.UpdatePod(pod, a.primaryIP(pod, podIPs), st.running())
	}
}

// forgetProbes stops a ProbeManager's workers for a pod that is
// terminating, finished or gone.
func (a *Agent) forgetProbes(uid types.UID) {
	if pm, ok := a.cfg.Prober.(ProbeManager); ok {
		pm.RemovePod(uid)
	}
}
