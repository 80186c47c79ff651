package agent

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// podState is what the runtime holds for one pod: its newest sandbox and
// every container instance the agent has not yet removed (the agent keeps
// the newest two per container: the current one and the one before, whose
// exit becomes lastState).
type podState struct {
	sandbox    *SandboxStatus
	containers []ContainerStatus
}

// newPodState picks the newest sandbox and orders containers newest first.
func newPodState(sandboxes []SandboxStatus, containers []ContainerStatus) podState {
	var st podState
	for i := range sandboxes {
		sb := &sandboxes[i]
		if st.sandbox == nil || newerSandbox(sb, st.sandbox) {
			st.sandbox = sb
		}
	}
	st.containers = slices.Clone(containers)
	slices.SortStableFunc(st.containers, func(a, b ContainerStatus) int {
		if c := cmp.Compare(b.Attempt, a.Attempt); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	return st
}

func newerSandbox(a, b *SandboxStatus) bool {
	if a.Attempt != b.Attempt {
		return a.Attempt > b.Attempt
	}
	return a.CreatedAt.After(b.CreatedAt)
}

// sandboxReady reports whether the pod has a sandbox its containers can
// run in.
func (s podState) sandboxReady() bool {
	return s.sandbox != nil && s.sandbox.State == SandboxReady
}

// latest returns the newest instance of the named container and the one
// before it, either of which may be nil.
func (s podState) latest(name string) (cur, prev *ContainerStatus) {
	for i := range s.containers {
		if s.containers[i].Name != name {
			continue
		}
		if cur == nil {
			cur = &s.containers[i]
			continue
		}
		return cur, &s.containers[i]
	}
	return cur, nil
}

// running returns the running instances.
func (s podState) running() []ContainerStatus {
	var out []ContainerStatus
	for _, c := range s.containers {
		if c.State == ContainerRunning {
			out = append(out, c)
		}
	}
	return out
}

// anyRegularStarted reports whether a regular container of the pod ever
// started in the runtime: from then on the pod counts as initialized even
// while a sidecar restarts.
func (s podState) anyRegularStarted(pod *corev1.Pod) bool {
	for i := range pod.Spec.Containers {
		for _, c := range s.containers {
			if c.Name == pod.Spec.Containers[i].Name && !c.StartedAt.IsZero() {
				return true
			}
		}
	}
	return false
}

// isSidecar: an init container with restartPolicy Always keeps running
// beside the regular containers.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// backOffKey names a container's restart back-off; the UID keeps a
// recreated pod with the same name from inheriting it.
func backOffKey(pod *corev1.Pod, name string) string {
	return string(pod.UID) + "/" + name
}

// podDescription is how the kubelet names a pod in messages:
// name_namespace(uid).
func podDescription(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
