package prober

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/internal/agent/prober/action"
)

// kind is which of a container's probes a worker runs.
type kind int

const (
	startup kind = iota
	readiness
	liveness
)

func (k kind) String() string {
	return [...]string{"Startup", "Readiness", "Liveness"}[k]
}

// Event reasons, as the kubelet's prober records them.
const (
	EventUnhealthy    = "Unhealthy"
	EventProbeWarning = "ProbeWarning"
)

// worker runs one probe of one container instance. Its fields after
// probe are guarded by Manager.mu.
type worker struct {
	inst  *instance
	kind  kind
	probe *corev1.Probe
	// lastOK and count track consecutive equal results towards the
	// thresholds.
	lastOK bool
	count  int32
	// onHold is set once this liveness or startup probe failed for good:
	// nothing more to do until the container is replaced.
	onHold bool
}

// run probes every period until the instance is dropped, ctx ends or the
// worker has nothing more to do (a startup probe that passed).
func (w *worker) run(ctx context.Context, m *Manager) {
	t := m.cfg.Clock.NewTicker(time.Duration(w.probe.PeriodSeconds) * time.Second)
	defer t.Stop()
	for {
		if !w.step(ctx, m) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-w.inst.stop:
			return
		case <-t.C():
		}
	}
}

// step runs the probe once if it is due and applies the result; it
// reports whether the worker should go on.
func (w *worker) step(ctx context.Context, m *Manager) bool {
	m.mu.Lock()
	inst := w.inst
	select {
	case <-inst.stop:
		m.mu.Unlock()
		return false
	default:
	}
	switch {
	case w.kind == startup && inst.started:
		m.mu.Unlock()
		return false
	case w.kind != startup && !inst.started, w.onHold,
		m.cfg.Clock.Since(inst.startedAt) < time.Duration(w.probe.InitialDelaySeconds)*time.Second:
		m.mu.Unlock()
		return true
	}
	pod := inst.pp.pod
	target := action.Target{Container: inst.spec, ContainerID: inst.id, PodIP: inst.pp.podIP}
	m.mu.Unlock()

	res, out := w.do(ctx, m, target)
	if ctx.Err() != nil {
		return false
	}
	w.record(m, pod, res, out)
	m.mu.Lock()
	changed := w.apply(res)
	resync := m.resync
	m.mu.Unlock()
	if changed && resync != nil {
		resync(pod.UID)
	}
	return true
}

// do runs the probe's handler.
func (w *worker) do(ctx context.Context, m *Manager, t action.Target) (action.Result, string) {
	timeout := time.Duration(w.probe.TimeoutSeconds) * time.Second
	h := &w.probe.ProbeHandler
	switch {
	case h.HTTPGet != nil:
		return action.HTTPGet(ctx, h.HTTPGet, t, timeout)
	case h.TCPSocket != nil:
		return action.TCPSocket(ctx, h.TCPSocket, t, timeout)
	case h.Exec != nil:
		return action.Exec(ctx, m.cfg.Execer, h.Exec.Command, t, timeout)
	case h.GRPC != nil:
		return action.GRPC(ctx, h.GRPC, t, timeout)
	}
	return action.Unknown, "probe has no handler"
}

// apply counts a result towards the thresholds and, once one is reached,
// changes the instance's verdict; it reports whether the verdict changed.
// An Unknown result (the probe could not run) is not counted, as
// upstream throws such results away.
//
// Worked example, readiness with failureThreshold 3: results pass, fail,
// fail, fail: the container stays ready through the first two failures
// and turns unready at the third; one pass (successThreshold 1) makes it
// ready again.
func (w *worker) apply(res action.Result) bool {
	if res == action.Unknown {
		return false
	}
	ok := res != action.Failure
	if w.count > 0 && ok == w.lastOK {
		w.count++
	} else {
		w.lastOK, w.count = ok, 1
	}
	if (ok && w.count < w.probe.SuccessThreshold) || (!ok && w.count < w.probe.FailureThreshold) {
		return false
	}
	inst := w.inst
	switch {
	case w.kind == readiness:
		changed := inst.ready != ok
		inst.ready = ok
		return changed
	case ok && w.kind == startup:
		changed := !inst.started
		inst.started = true
		return changed
	case ok:
		return false // liveness passing changes nothing
	}
	// A liveness or startup probe failed for good: the container dies.
	w.onHold, w.count = true, 0
	if inst.kill == "" {
		inst.kill = fmt.Sprintf("Container %s failed %s probe", inst.spec.Name, lower(w.kind))
		if g := w.probe.TerminationGracePeriodSeconds; g != nil && *g > 0 {
			inst.killGrace = time.Duration(*g) * time.Second
		}
	}
	return true
}

// record emits the event of a probe that did not pass, as upstream does
// for every one of them (not only those that change the verdict).
func (w *worker) record(m *Manager, pod *corev1.Pod, res action.Result, out string) {
	if m.cfg.Recorder == nil {
		return
	}
	switch res {
	case action.Failure:
		m.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, EventUnhealthy, "%s probe failed: %s", w.kind, out)
	case action.Unknown:
		m.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, EventUnhealthy, "%s probe errored: %s", w.kind, out)
	case action.Warning:
		m.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, EventProbeWarning, "%s probe warning: %s", w.kind, out)
	}
}

func lower(k kind) string {
	return [...]string{"startup", "readiness", "liveness"}[k]
}

// withDefaults fills what API defaulting would have (a pod stored without
// it): timeout 1s, period 10s, thresholds success 1 and failure 3.
// Liveness and startup probes only know success 1, as validation insists.
func withDefaults(p *corev1.Probe, k kind) *corev1.Probe {
	p = p.DeepCopy()
	if p.TimeoutSeconds <= 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds <= 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold <= 0 || k != readiness {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = 3
	}
	return p
}
