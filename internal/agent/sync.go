package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxStepsPerSync bounds the act-then-observe loop of one sync; a pod
// whose containers all exit at once (simulated init containers with no run
// time) needs one step per init container.
const maxStepsPerSync = 16

// syncPod brings one pod's runtime state and API status in line with its
// spec. It returns when the pod should next be synced without an event (0:
// only on an event).
func (a *Agent) syncPod(ctx context.Context, uid types.UID) (time.Duration, error) {
	pod := a.pods.get(a.cfg.NodeName, uid)
	if pod == nil {
		return 0, a.forgetPod(ctx, uid)
	}
	st, err := a.podState(ctx, uid)
	if err != nil {
		return 0, err
	}
	switch {
	case pod.DeletionTimestamp != nil:
		return 0, a.terminatePod(ctx, pod, st)
	case isTerminal(pod.Status.Phase) || isTerminal(a.basis(pod).Status.Phase):
		// Finished for good; it stays until the control plane deletes it.
		a.forgetProbes(uid)
		return 0, a.stopSandbox(ctx, st)
	}
	if f, remaining := a.deadline(pod); f != nil {
		return 0, a.failPod(ctx, pod, st, f)
	} else if remaining > 0 {
		after, err := a.runPod(ctx, pod, st)
		return a.nextSync(after, remaining), err
	}
	return a.runPod(ctx, pod, st)
}

// Pod failure reasons the agent reports.
const (
	ReasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// deadline checks spec.activeDeadlineSeconds against the pod's start
// time: past it, the pod fails; before it, remaining says when it will.
//
// Worked example: started at 12:00:00 with activeDeadlineSeconds 90, a
// sync at 12:01:00 returns remaining 30s; one at 12:01:30 fails the pod.
func (a *Agent) deadline(pod *corev1.Pod) (*podFailure, time.Duration) {
	start := a.basis(pod).Status.StartTime
	if pod.Spec.ActiveDeadlineSeconds == nil || start == nil {
		return nil, 0
	}
	limit := time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second
	remaining := start.Add(limit).Sub(a.cfg.Clock.Now())
	if remaining > 0 {
		return nil, remaining
	}
	return &podFailure{reason: ReasonDeadlineExceeded, message: messageDeadlineExceeded}, 0
}

// failPod stops a pod's containers and reports it Failed for reason f.
func (a *Agent) failPod(ctx context.Context, pod *corev1.Pod, st podState, f *podFailure) error {
	a.event(pod, corev1.EventTypeNormal, f.reason, "%s", f.message)
	if err := a.stopContainers(ctx, pod, st, gracePeriod(pod)); err != nil {
		return err
	}
	ips := sandboxIPs(st)
	if err := a.stopSandbox(ctx, st); err != nil {
		return err
	}
	st, err := a.podState(ctx, pod.UID)
	if err != nil {
		return err
	}
	_, err = a.updateStatus(ctx, pod, st, statusOpts{podIPs: ips, terminal: true, failure: f})
	return err
}

// runPod starts what should run, then writes the resulting status once.
func (a *Agent) runPod(ctx context.Context, pod *corev1.Pod, st podState) (time.Duration, error) {
	if a.cfg.ReportContainerCreating && !st.sandboxReady() && len(pod.Status.ContainerStatuses) == 0 {
		if _, err := a.updateStatus(ctx, pod, st, statusOpts{}); err != nil {
			return 0, err
		}
	}
	if a.cfg.Volumes != nil && st.sandboxReady() {
		// configMap, secret and downward API volumes follow their sources
		// (upstream rewrites them on its periodic sync).
		if err := a.cfg.Volumes.Update(pod); err != nil {
			a.log.Warn("Updating pod volumes", "pod", podDescription(pod), "err", err)
		}
	}
	if killed, err := a.killUnhealthy(ctx, pod, st); err != nil {
		return 0, err
	} else if killed {
		if st, err = a.podState(ctx, pod.UID); err != nil {
			return 0, err
		}
	}
	var acts podActions
	for step := 0; ; step++ {
		acts = computePodActions(pod, st, a.backOffRemaining, func(c *ContainerStatus) bool {
			return a.probe(pod, c).Started
		})
		if acts.empty() || step == maxStepsPerSync {
			break
		}
		err := a.execute(ctx, pod, st, &acts)
		st, _ = a.podState(ctx, pod.UID) // report what did start, even on error
		if err != nil {
			_, _ = a.updateStatus(ctx, pod, st, statusOpts{waiting: acts.waiting})
			return 0, err
		}
	}
	for name := range acts.waiting {
		a.event(pod, corev1.EventTypeWarning, EventBackOff, "Back-off restarting failed container %s in pod %s", name, podDescription(pod))
	}
	opts := statusOpts{waiting: acts.waiting}
	b := a.basis(pod)
	status := a.computeStatus(b, &b.Status, st, opts)
	if isTerminal(status.Phase) {
		// Over: release the sandbox first, so the one write that says so
		// also says the sandbox is gone (the IPs stay in the status).
		opts.podIPs, opts.terminal = sandboxIPs(st), true
		if err := a.stopSandbox(ctx, st); err != nil {
			return 0, err
		}
		var err error
		if st, err = a.podState(ctx, pod.UID); err != nil {
			return 0, err
		}
	}
	recheck, err := a.updateStatus(ctx, pod, st, opts)
	if err != nil || opts.terminal {
		return 0, err
	}
	return a.nextSync(acts.retryAfter, recheck), nil
}

// terminatePod stops a deleted pod's containers, reports its final status
// and deletes it with grace period 0, as the kubelet does.
func (a *Agent) terminatePod(ctx context.Context, pod *corev1.Pod, st podState) error {
	if a.isDeleted(pod.UID) {
		return nil // waiting for finalizers
	}
	// No probe may kill a container that is shutting down anyway.
	a.forgetProbes(pod.UID)
	grace := a.awaitTermination(ctx, pod, st, gracePeriod(pod))
	if err := a.stopContainers(ctx, pod, st, grace); err != nil {
		return err
	}
	ips := sandboxIPs(st)
	if err := a.stopSandbox(ctx, st); err != nil {
		return err
	}
	st, err := a.podState(ctx, pod.UID)
	if err != nil {
		return err
	}
	// A pod that never ran has nothing to report.
	if len(st.containers) > 0 || len(pod.Status.ContainerStatuses) > 0 {
		if _, err := a.updateStatus(ctx, pod, st, statusOpts{podIPs: ips, terminal: true}); err != nil {
			return err
		}
	}
	if err := a.removeSandboxes(ctx, pod.UID); err != nil {
		return err
	}
	return a.deletePod(ctx, pod)
}

// stopContainers stops a pod's running containers: regular ones first,
// then sidecars, as the kubelet orders it; each group at once, each
// container running its preStop hook within the grace period.
func (a *Agent) stopContainers(ctx context.Context, pod *corev1.Pod, st podState, grace time.Duration) error {
	for _, sidecars := range []bool{false, true} {
		var group []ContainerStatus
		for _, c := range st.running() {
			if a.isSidecarName(pod, c.Name) == sidecars {
				group = append(group, c)
			}
		}
		if err := a.killAll(ctx, pod, group, a.primaryIP(pod, sandboxIPs(st)), grace); err != nil {
			return err
		}
	}
	return nil
}

// forgetPod cleans up after a pod that left the cache: deleted, or bound
// elsewhere by a previous life of this node.
func (a *Agent) forgetPod(ctx context.Context, uid types.UID) error {
	running, err := a.runtime.ListContainers(ctx, ContainerFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("listing containers of pod %s: %w", uid, err)
	}
	for _, c := range running {
		if c.State == ContainerRunning {
			if err := a.runtime.StopContainer(ctx, c.ID, 0); err != nil {
				return fmt.Errorf("stopping container %s of pod %s: %w", c.Name, uid, err)
			}
		}
	}
	a.forgetProbes(uid)
	if err := a.removeSandboxes(ctx, uid); err != nil {
		return err
	}
	if err := a.cleanupVolumes(uid); err != nil {
		return err
	}
	a.mu.Lock()
	delete(a.written, uid)
	delete(a.deleted, uid)
	for key := range a.startErrors {
		if hasPrefixUID(key, uid) {
			delete(a.startErrors, key)
		}
	}
	a.mu.Unlock()
	a.backOff.GC()
	return nil
}

func (a *Agent) podState(ctx context.Context, uid types.UID) (podState, error) {
	sandboxes, err := a.runtime.ListPodSandboxes(ctx, SandboxFilter{PodUID: uid})
	if err != nil {
		return podState{}, fmt.Errorf("listing sandboxes of pod %s: %w", uid, err)
	}
	containers, err := a.runtime.ListContainers(ctx, ContainerFilter{PodUID: uid})
	if err != nil {
		return podState{}, fmt.Errorf("listing containers of pod %s: %w", uid, err)
	}
	return newPodState(sandboxes, containers), nil
}

func (a *Agent) stopSandbox(ctx context.Context, st podState) error {
	if !st.sandboxReady() {
		return nil
	}
	if err := a.runtime.StopPodSandbox(ctx, st.sandbox.ID); err != nil {
		return fmt.Errorf("stopping sandbox %s: %w", st.sandbox.ID, err)
	}
	return nil
}

func (a *Agent) removeSandboxes(ctx context.Context, uid types.UID) error {
	sandboxes, err := a.runtime.ListPodSandboxes(ctx, SandboxFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("listing sandboxes of pod %s: %w", uid, err)
	}
	for _, sb := range sandboxes {
		if err := a.runtime.StopPodSandbox(ctx, sb.ID); err != nil {
			return fmt.Errorf("stopping sandbox %s: %w", sb.ID, err)
		}
		if err := a.runtime.RemovePodSandbox(ctx, sb.ID); err != nil {
			return fmt.Errorf("removing sandbox %s: %w", sb.ID, err)
		}
	}
	return nil
}

// statusOpts are the parts of a status computation that depend on what
// the sync did.
type statusOpts struct {
	waiting map[string]*corev1.ContainerStateWaiting
	// podIPs overrides the sandbox's IPs (a sandbox just stopped).
	podIPs   []string
	terminal bool
	failure  *podFailure
}

// computeStatus gathers a statusInput and computes the status from old.
func (a *Agent) computeStatus(pod *corev1.Pod, old *corev1.PodStatus, st podState, opts statusOpts) corev1.PodStatus {
	s, _ := a.computeStatusRecheck(pod, old, st, opts)
	return s
}

// computeStatusRecheck also returns when a readiness verdict will change
// on its own (0: never).
func (a *Agent) computeStatusRecheck(pod *corev1.Pod, old *corev1.PodStatus, st podState, opts statusOpts) (corev1.PodStatus, time.Duration) {
	now := a.cfg.Clock.Now()
	var recheck time.Duration
	ips := opts.podIPs
	if len(ips) == 0 {
		ips = sandboxIPs(st)
	}
	if len(ips) == 0 {
		for _, ip := range old.PodIPs {
			ips = append(ips, ip.IP)
		}
	}
	if !opts.terminal && pod.DeletionTimestamp == nil {
		// Before the verdicts are read: a container that just started
		// gets its probe workers.
		a.updateProbes(pod, st, ips)
	}
	waiting := a.startWaiting(pod, opts.waiting)
	s := computePodStatus(statusInput{
		pod: pod, old: old, state: st, podIPs: ips, hostIPs: a.hostIPs,
		probe: func(c *corev1.Container, cs *ContainerStatus) ProbeResult {
			r := a.cfg.Prober.Probe(pod, c, *cs, now)
			if r.Recheck > 0 && (recheck == 0 || r.Recheck < recheck) {
				recheck = r.Recheck
			}
			return r
		},
		waiting: waiting, runtimeName: a.runtimeName, terminal: opts.terminal, failure: opts.failure, now: now,
	})
	return s, recheck
}

func (a *Agent) probe(pod *corev1.Pod, c *ContainerStatus) ProbeResult {
	spec := containerSpec(pod, c.Name)
	if spec == nil {
		return ProbeResult{}
	}
	return a.cfg.Prober.Probe(pod, spec, *c, a.cfg.Clock.Now())
}

// startWaiting merges start errors into the back-off waiting reasons.
func (a *Agent) startWaiting(pod *corev1.Pod, waiting map[string]*corev1.ContainerStateWaiting) map[string]*corev1.ContainerStateWaiting {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.startErrors) == 0 {
		return waiting
	}
	out := map[string]*corev1.ContainerStateWaiting{}
	for k, v := range waiting {
		out[k] = v
	}
	for _, c := range allContainers(pod) {
		if w := a.startErrors[backOffKey(pod, c.Name)]; w != nil && out[c.Name] == nil {
			out[c.Name] = w
		}
	}
	return out
}

func sandboxIPs(st podState) []string {
	if !st.sandboxReady() {
		return nil
	}
	return st.sandbox.IPs
}

// gracePeriod is how long a deleted pod's containers get to stop: what the
// deletion asked for, else the pod's terminationGracePeriodSeconds.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func (a *Agent) isSidecarName(pod *corev1.Pod, name string) bool {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return isSidecar(&pod.Spec.InitContainers[i])
		}
	}
	return false
}

func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func allContainers(pod *corev1.Pod) []*corev1.Container {
	out := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			out = append(out, &list[i])
		}
	}
	return out
}
