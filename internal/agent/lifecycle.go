package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Event reasons the agent records on pods, as the kubelet names them.
const (
	EventPulled  = "Pulled"
	EventCreated = "Created"
	EventStarted = "Started"
	EventKilling = "Killing"
	EventBackOff = "BackOff"
	EventFailed  = "Failed"
)

// Waiting reasons for containers that failed to start.
const (
	ReasonErrImagePull          = "ErrImagePull"
	ReasonCreateContainerError  = "CreateContainerError"
	ReasonRunContainerError     = "RunContainerError"
	ReasonCreatePodSandboxError = "CreatePodSandboxError"
)

// execute carries out one step of podActions.
func (a *Agent) execute(ctx context.Context, pod *corev1.Pod, st podState, acts *podActions) error {
	var sandboxID string
	if st.sandbox != nil {
		sandboxID = st.sandbox.ID
	}
	sbConfig := sandboxConfig(pod, 0)
	if acts.createSandbox || len(acts.start) > 0 {
		if err := a.setupVolumes(pod); err != nil {
			return err
		}
	}
	if acts.createSandbox {
		dns, err := a.podDNS(pod)
		if err != nil {
			a.event(pod, corev1.EventTypeWarning, ReasonCreatePodSandboxError, "Failed to create pod sandbox: %v", err)
			return fmt.Errorf("DNS for %s: %w", podDescription(pod), err)
		}
		sbConfig.DNS = dns
		if st.sandbox != nil {
			sbConfig.Attempt = st.sandbox.Attempt + 1
		}
		id, err := a.runtime.RunPodSandbox(ctx, sbConfig)
		if err != nil {
			a.event(pod, corev1.EventTypeWarning, ReasonCreatePodSandboxError, "Failed to create pod sandbox: %v", err)
			return fmt.Errorf("creating sandbox for %s: %w", podDescription(pod), err)
		}
		sandboxID = id
	}
	podIPs := sandboxIPs(st)
	if acts.createSandbox && len(acts.start) > 0 {
		podIPs = a.sandboxIPsOf(ctx, pod.UID, sandboxID)
	}
	for _, c := range acts.start {
		if err := a.startContainer(ctx, pod, st, sandboxID, sbConfig, podIPs, c); err != nil {
			return err
		}
	}
	if err := a.killAll(ctx, pod, acts.stop, a.primaryIP(pod, podIPs), gracePeriod(pod)); err != nil {
		return err
	}
	return a.pruneInstances(ctx, st)
}

// startContainer pulls, creates and starts one container, recording why
// it could not as the container's waiting reason.
func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, st podState, sandboxID string, sb *SandboxConfig, podIPs []string, c *corev1.Container) error {
	key := backOffKey(pod, c.Name)
	cur, _ := st.latest(c.Name)
	attempt := nextAttempt(pod, c.Name, cur)
	if cur != nil && cur.State == ContainerCreated {
		// Created but never started: replace it under the same attempt.
		if err := a.runtime.RemoveContainer(ctx, cur.ID); err != nil {
			return fmt.Errorf("removing container %s of %s: %w", c.Name, podDescription(pod), err)
		}
	}
	if cur != nil && cur.State == ContainerExited {
		a.backOff.Next(key, cur.FinishedAt)
	}
	fail := func(reason, step string, err error) error {
		a.setStartError(key, &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()})
		a.event(pod, corev1.EventTypeWarning, EventFailed, "Error: %s", reason)
		return fmt.Errorf("%s container %s of %s: %w", step, c.Name, podDescription(pod), err)
	}
	ref, reason, err := a.ensureImage(ctx, pod, c, sb)
	if err != nil {
		return fail(reason, "pulling image for", err)
	}
	cc := containerConfig(pod, c, attempt, ref)
	if err := a.containerEnvAndMounts(pod, c, podIPs, cc); err != nil {
		return fail(ReasonCreateContainerConfigError, "configuring", err)
	}
	id, err := a.runtime.CreateContainer(ctx, sandboxID, cc)
	if err != nil {
		return fail(ReasonCreateContainerError, "creating", err)
	}
	a.event(pod, corev1.EventTypeNormal, EventCreated, "Created container: %s", c.Name)
	if err := a.runtime.StartContainer(ctx, id); err != nil {
		return fail(ReasonRunContainerError, "starting", err)
	}
	a.event(pod, corev1.EventTypeNormal, EventStarted, "Started container %s", c.Name)
	a.setStartError(key, nil)
	if err := a.postStart(ctx, pod, c, id, podIPs); err != nil {
		// The container was killed: it exits and restarts per
		// restartPolicy, with back-off, like any other exit.
		a.log.Debug("PostStart hook failed", "pod", podDescription(pod), "container", c.Name, "err", err)
	}
	return nil
}

// nextAttempt is the restart count of a container's next instance: one
// more than the newest instance's, or, when the runtime has none (it lost
// them), one more than the API status reports if the container ran before.
func nextAttempt(pod *corev1.Pod, name string, cur *ContainerStatus) uint32 {
	if cur != nil {
		if cur.State == ContainerCreated {
			return cur.Attempt
		}
		return cur.Attempt + 1
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if s.Name == name && (s.RestartCount > 0 || s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil) {
				return uint32(s.RestartCount) + 1
			}
		}
	}
	return 0
}

// pruneInstances removes all but the two newest instances of each
// container: the current one and the previous one (lastState), as the
// kubelet's container garbage collector keeps one dead container.
func (a *Agent) pruneInstances(ctx context.Context, st podState) error {
	seen := map[string]int{}
	for _, c := range st.containers { // newest first
		seen[c.Name]++
		if seen[c.Name] <= 2 || c.State == ContainerRunning {
			continue
		}
		if err := a.runtime.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("removing old container %s: %w", c.ID, err)
		}
	}
	return nil
}

// backOffRemaining is a backOffFunc over the agent's back-off table.
//
// Worked example with the defaults (10s initial, 5m cap): a container
// exits at t=0 and restarts at once (no entry yet; the entry becomes 10s).
// It exits again at t=2s: 2s into a 10s window, so it waits until t=10s
// (CrashLoopBackOff), then restarts and the window doubles to 20s. An
// entry untouched for twice the cap (10 minutes) starts over at 10s.
func (a *Agent) backOffRemaining(key string, finished time.Time) (time.Duration, time.Duration) {
	if !a.backOff.IsInBackOffSince(key, finished) {
		return 0, a.backOff.Get(key)
	}
	delay := a.backOff.Get(key)
	return finished.Add(delay).Sub(a.cfg.Clock.Now()), delay
}

func (a *Agent) setStartError(key string, w *corev1.ContainerStateWaiting) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w == nil {
		delete(a.startErrors, key)
		return
	}
	a.startErrors[key] = w
}

func (a *Agent) event(pod *corev1.Pod, eventType, reason, format string, args ...any) {
	if a.cfg.Recorder != nil {
		a.cfg.Recorder.Eventf(pod, eventType, reason, format, args...)
	}
}

func sandboxConfig(pod *corev1.Pod, attempt uint32) *SandboxConfig {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	return &SandboxConfig{
		PodUID:       pod.UID,
		PodName:      pod.Name,
		PodNamespace: pod.Namespace,
		Attempt:      attempt,
		Hostname:     hostname,
		HostNetwork:  pod.Spec.HostNetwork,
		Labels:       pod.Labels,
		Annotations:  pod.Annotations,
		Ports:        PodPorts(pod),
	}
}

// Labels the agent puts on containers, as the kubelet does, so a runtime
// (and a person with crictl) can tell which pod a container belongs to.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

func containerConfig(pod *corev1.Pod, c *corev1.Container, attempt uint32, imageRef string) *ContainerConfig {
	env := make([]KeyValue, 0, len(c.Env))
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env = append(env, KeyValue{Key: e.Name, Value: e.Value})
		}
	}
	return &ContainerConfig{
		Name:       c.Name,
		Attempt:    attempt,
		Image:      c.Image,
		ImageRef:   imageRef,
		Command:    c.Command,
		Args:       c.Args,
		WorkingDir: c.WorkingDir,
		Env:        env,
		Init:       isInitContainer(pod, c.Name),
		Sidecar:    isSidecar(c),
		Resources:  ContainerResources(c),
		Security:   ContainerSecurity(pod, c),
		Labels: map[string]string{
			labelPodName:       pod.Name,
			labelPodNamespace:  pod.Namespace,
			labelPodUID:        string(pod.UID),
			labelContainerName: c.Name,
		},
	}
}

func isInitContainer(pod *corev1.Pod, name string) bool {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return true
		}
	}
	return false
}

// hasPrefixUID reports whether key (a backOffKey) belongs to pod uid.
func hasPrefixUID(key string, uid types.UID) bool {
	return len(key) > len(uid) && key[:len(uid)] == string(uid) && key[len(uid)] == '/'
}
