package simulated

import (
	"context"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/internal/agent"
)

// Restore rebuilds the runtime's state from the API's view of the pods on
// this node, after the agent (and with it this in-memory runtime)
// restarted: each pod that was running gets its sandbox back with the same
// IPs, and each container its instance with the same ID, attempt and start
// time. The agent then computes the same status the API already holds and
// writes nothing. A container scripted to exit whose time passed while the
// agent was down has exited by then; the next sync reports it.
//
// Pods that finished (Succeeded, Failed) or never started get nothing:
// there is nothing of theirs left to run.
func (r *Runtime) Restore(_ context.Context, pods []*corev1.Pod) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pod := range pods {
		if isFinished(pod) || (len(pod.Status.PodIPs) == 0 && !hasStarted(pod)) {
			continue
		}
		sandboxID := deriveID("sandbox", pod.UID, "", 0)
		if _, exists := r.sandboxes[sandboxID]; exists {
			continue
		}
		sb := &sandbox{
			status: agent.SandboxStatus{
				ID: sandboxID, PodUID: pod.UID, PodName: pod.Name, PodNamespace: pod.Namespace,
				State: agent.SandboxReady, CreatedAt: startTime(pod),
			},
			annotations: pod.Annotations,
			hostNetwork: pod.Spec.HostNetwork,
		}
		for _, ip := range pod.Status.PodIPs {
			sb.status.IPs = append(sb.status.IPs, ip.IP)
			if addr, err := netip.ParseAddr(ip.IP); err == nil && !pod.Spec.HostNetwork {
				r.ipam.reserve(addr, pod.UID)
			}
		}
		if len(sb.status.IPs) == 0 {
			// Started without an IP on record: give it one now.
			if addr, err := r.ipam.allocate(pod.UID); err == nil {
				sb.status.IPs = []string{addr.String()}
			}
		}
		r.sandboxes[sandboxID] = sb
		r.index(pod.UID).sandboxes = append(r.index(pod.UID).sandboxes, sandboxID)
		for _, list := range []struct {
			statuses []corev1.ContainerStatus
			specs    []corev1.Container
			init     bool
		}{{pod.Status.InitContainerStatuses, pod.Spec.InitContainers, true}, {pod.Status.ContainerStatuses, pod.Spec.Containers, false}} {
			for _, cs := range list.statuses {
				regularInit := list.init && !isSidecarSpec(list.specs, cs.Name)
				r.unsafeRestoreContainer(sb, cs, behaviourFor(pod.Annotations, cs.Name, regularInit))
			}
		}
	}
	return nil
}

// unsafeRestoreContainer recreates a container's current instance and the
// one before it from its API status. The status's restartCount is the
// newest instance's attempt: the one running (or terminated) now, or, while
// the container waits to restart, the one in lastState.
func (r *Runtime) unsafeRestoreContainer(sb *sandbox, cs corev1.ContainerStatus, b behaviour) {
	attempt := uint32(cs.RestartCount)
	switch {
	case cs.State.Running != nil:
		c := r.unsafeAddRestored(sb, cs, attempt, cs.ContainerID, b)
		c.status.StartedAt = cs.State.Running.StartedAt.Time
		r.unsafeScheduleExit(c)
		if attempt > 0 {
			r.unsafeRestoreExited(sb, cs, attempt-1, cs.LastTerminationState.Terminated)
		}
	case cs.State.Terminated != nil:
		t := cs.State.Terminated.DeepCopy()
		if t.ContainerID == "" {
			t.ContainerID = cs.ContainerID
		}
		r.unsafeRestoreExited(sb, cs, attempt, t)
		if attempt > 0 {
			r.unsafeRestoreExited(sb, cs, attempt-1, cs.LastTerminationState.Terminated)
		}
	default:
		r.unsafeRestoreExited(sb, cs, attempt, cs.LastTerminationState.Terminated)
	}
}

func (r *Runtime) unsafeRestoreExited(sb *sandbox, cs corev1.ContainerStatus, attempt uint32, t *corev1.ContainerStateTerminated) {
	if t == nil {
		return
	}
	// An exited instance is scripted to have run exactly as long as it
	// did, with the code it exited with.
	b := behaviour{runFor: t.FinishedAt.Sub(t.StartedAt.Time), exitCode: t.ExitCode}
	c := r.unsafeAddRestored(sb, cs, attempt, t.ContainerID, b)
	c.status.StartedAt = t.StartedAt.Time
	c.status.Message = t.Message
	if c.behaviour.runFor < 0 {
		c.behaviour.runFor = 0
	}
}

func (r *Runtime) unsafeAddRestored(sb *sandbox, cs corev1.ContainerStatus, attempt uint32, apiID string, b behaviour) *container {
	id := strings.TrimPrefix(apiID, RuntimeName+"://")
	if id == "" || strings.Contains(id, "://") {
		id = deriveID("container", sb.status.PodUID, cs.Name, attempt)
	}
	c := &container{
		status: agent.ContainerStatus{
			ID: id, SandboxID: sb.status.ID, PodUID: sb.status.PodUID, Name: cs.Name, Attempt: attempt,
			Image: cs.Image, ImageRef: cs.ImageID, State: agent.ContainerCreated, CreatedAt: sb.status.CreatedAt,
		},
		behaviour: b,
		started:   true,
	}
	if c.status.ImageRef == "" {
		c.status.ImageRef = imageRef(cs.Image)
	}
	r.containers[id] = c
	r.index(sb.status.PodUID).containers = append(r.index(sb.status.PodUID).containers, id)
	return c
}

func isFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func hasStarted(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.ContainerID != "" || cs.LastTerminationState.Terminated != nil {
				return true
			}
		}
	}
	return false
}

func startTime(pod *corev1.Pod) time.Time {
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return pod.CreationTimestamp.Time
}

func isSidecarSpec(specs []corev1.Container, name string) bool {
	for _, c := range specs {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}
