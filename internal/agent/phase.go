package agent

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons, as the kubelet reports them.
const (
	ReasonPodCompleted             = "PodCompleted"
	ReasonPodFailed                = "PodFailed"
	ReasonContainersNotReady       = "ContainersNotReady"
	ReasonContainersNotInitialized = "ContainersNotInitialized"
	ReasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
)

// podPhase is the kubelet's getPhase (without container restart rules,
// which Skiff's API does not accept).
//
//   - Failed as soon as a regular init container failed and the pod never
//     restarts;
//   - Pending while initialization is unfinished or a container waits for
//     its first start;
//   - Running while every container has started and one runs;
//   - once none runs: Succeeded or Failed if the pod is terminal or
//     nothing will restart, else Running (containers are restarting).
//
// Sidecars (init containers with restartPolicy Always) hold the pod
// Pending until they have started, unless a regular container already ran;
// their exits never decide the phase.
func podPhase(pod *corev1.Pod, inits, regular []corev1.ContainerStatus, terminal, initialized bool) corev1.PodPhase {
	var n phaseCounts
	n.countInit(pod, inits)
	n.countRegular(pod, regular)
	policy := pod.Spec.RestartPolicy
	switch {
	case n.failedInit > 0 && policy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	case n.pendingInit > 0 || (n.pendingSidecars > 0 && !initialized) || n.waiting > 0:
		return corev1.PodPending
	case n.running > 0 && n.unknown == 0:
		return corev1.PodRunning
	case n.running == 0 && n.stopped > 0 && n.unknown == 0:
		switch {
		case terminal && n.stopped == n.succeeded:
			return corev1.PodSucceeded
		case terminal:
			return corev1.PodFailed
		case policy == corev1.RestartPolicyAlways:
			return corev1.PodRunning // restarting
		case n.stopped == n.succeeded:
			return corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		default:
			return corev1.PodRunning // OnFailure: restarting the failed ones
		}
	default:
		return corev1.PodPending
	}
}

// phaseCounts tallies container states for podPhase.
type phaseCounts struct {
	pendingInit, pendingSidecars, failedInit      int
	unknown, running, waiting, stopped, succeeded int
}

func (n *phaseCounts) countInit(pod *corev1.Pod, inits []corev1.ContainerStatus) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st, ok := statusByName(inits, c.Name)
		if isSidecar(c) {
			n.countSidecar(st, ok)
			continue
		}
		switch {
		case !ok, st.State.Running != nil:
			n.pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				n.failedInit++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			if st.LastTerminationState.Terminated.ExitCode != 0 {
				n.failedInit++
			}
		default:
			n.pendingInit++
		}
	}
}

// countSidecar: a sidecar is pending until it has started; once it ran,
// its exits do not count.
func (n *phaseCounts) countSidecar(st *corev1.ContainerStatus, ok bool) {
	switch {
	case !ok:
		n.unknown++
	case st.State.Running != nil:
		n.running++
		if st.Started == nil || !*st.Started {
			n.pendingSidecars++
		}
	case st.State.Waiting != nil && st.LastTerminationState.Terminated == nil:
		n.pendingSidecars++
		n.waiting++
	case st.State.Terminated == nil && st.State.Waiting == nil:
		n.pendingSidecars++
		n.unknown++
	}
}

func (n *phaseCounts) countRegular(pod *corev1.Pod, regular []corev1.ContainerStatus) {
	for i := range pod.Spec.Containers {
		st, ok := statusByName(regular, pod.Spec.Containers[i].Name)
		switch {
		case !ok:
			n.unknown++
		case st.State.Running != nil:
			n.running++
		case st.State.Terminated != nil:
			n.stopped++
			if st.State.Terminated.ExitCode == 0 {
				n.succeeded++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			n.stopped++
		case st.State.Waiting != nil:
			n.waiting++
		default:
			n.unknown++
		}
	}
}

func statusByName(statuses []corev1.ContainerStatus, name string) (*corev1.ContainerStatus, bool) {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i], true
		}
	}
	return nil, false
}

// kubeletConditions are the condition types the agent owns and rewrites on
// every status; any other condition (DisruptionTarget, readiness gates set
// by controllers) passes through.
var kubeletConditions = map[corev1.PodConditionType]bool{
	corev1.PodScheduled:              true,
	corev1.PodReady:                  true,
	corev1.PodInitialized:            true,
	corev1.ContainersReady:           true,
	corev1.PodReadyToStartContainers: true,
}

// podConditions returns the foreign conditions followed by the agent's, in
// the kubelet's order: PodReadyToStartContainers, Initialized, Ready,
// ContainersReady, PodScheduled. A condition keeps its lastTransitionTime
// while its status does not change.
func podConditions(in statusInput, s *corev1.PodStatus) []corev1.PodCondition {
	pod := in.pod
	var out []corev1.PodCondition
	for _, c := range pod.Status.Conditions {
		if !kubeletConditions[c.Type] {
			out = append(out, c)
		}
	}
	all := append(append([]corev1.ContainerStatus{}, s.InitContainerStatuses...), s.ContainerStatuses...)
	sandbox := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}
	if in.state.sandboxReady() {
		sandbox.Status = corev1.ConditionTrue
	}
	containersReady := containersReadyCondition(pod, all, s.Phase)
	owned := []corev1.PodCondition{
		sandbox,
		initializedCondition(pod, all, s.Phase),
		readyCondition(pod, containersReady, out),
		containersReady,
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	}
	for _, c := range owned {
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = transitionTime(in, c)
		out = append(out, c)
	}
	return out
}

// transitionTime keeps the previous lastTransitionTime of a condition
// whose status did not change.
func transitionTime(in statusInput, c corev1.PodCondition) metav1.Time {
	for _, prev := range in.old.Conditions {
		if prev.Type == c.Type && prev.Status == c.Status && !prev.LastTransitionTime.IsZero() {
			return prev.LastTransitionTime
		}
	}
	for _, prev := range in.pod.Status.Conditions {
		if prev.Type == c.Type && prev.Status == c.Status && !prev.LastTransitionTime.IsZero() {
			return prev.LastTransitionTime
		}
	}
	return metav1.NewTime(in.now).Rfc3339Copy()
}

func containersReadyCondition(pod *corev1.Pod, all []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}
	var unknown, unready []string
	check := func(name string) {
		st, ok := statusByName(all, name)
		switch {
		case !ok:
			unknown = append(unknown, name)
		case !st.Ready:
			unready = append(unready, name)
		}
	}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			check(pod.Spec.InitContainers[i].Name)
		}
	}
	for i := range pod.Spec.Containers {
		check(pod.Spec.Containers[i].Name)
	}
	switch {
	case phase == corev1.PodSucceeded && len(unknown) == 0:
		c.Reason = ReasonPodCompleted
		return c
	case phase == corev1.PodFailed:
		c.Reason = ReasonPodFailed
		return c
	}
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(unready) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unready status: %s", unready))
	}
	if len(msgs) > 0 {
		c.Reason, c.Message = ReasonContainersNotReady, strings.Join(msgs, ", ")
		return c
	}
	c.Status = corev1.ConditionTrue
	return c
}

// readyCondition is ContainersReady further gated by the pod's readiness
// gates, whose conditions others (load balancer controllers) set.
func readyCondition(pod *corev1.Pod, containersReady corev1.PodCondition, foreign []corev1.PodCondition) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodReady, Status: containersReady.Status, Reason: containersReady.Reason, Message: containersReady.Message}
	if c.Status != corev1.ConditionTrue {
		return c
	}
	var msgs []string
	for _, gate := range pod.Spec.ReadinessGates {
		found := false
		for _, fc := range foreign {
			if fc.Type != gate.ConditionType {
				continue
			}
			found = true
			if fc.Status != corev1.ConditionTrue {
				msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", gate.ConditionType, fc.Status))
			}
		}
		if !found {
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gate.ConditionType))
		}
	}
	if len(msgs) > 0 {
		c.Status, c.Reason, c.Message = corev1.ConditionFalse, ReasonReadinessGatesNotReady, strings.Join(msgs, ", ")
	}
	return c
}

// initializedCondition: every regular init container succeeded and every
// sidecar started; or a regular container already ran.
func initializedCondition(pod *corev1.Pod, all []corev1.ContainerStatus, phase corev1.PodPhase) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	var unknown, incomplete []string
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		st, ok := statusByName(all, ic.Name)
		switch {
		case !ok:
			unknown = append(unknown, ic.Name)
		case isSidecar(ic) && (st.Started == nil || !*st.Started):
			incomplete = append(incomplete, ic.Name)
		case !isSidecar(ic) && !st.Ready:
			incomplete = append(incomplete, ic.Name)
		}
	}
	if phase == corev1.PodSucceeded && len(unknown) == 0 {
		c.Reason = ReasonPodCompleted
		return c
	}
	for i := range pod.Spec.Containers {
		if st, ok := statusByName(all, pod.Spec.Containers[i].Name); ok && (st.State.Running != nil || st.State.Terminated != nil) {
			return c
		}
	}
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(incomplete) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with incomplete status: %s", incomplete))
	}
	if len(msgs) > 0 {
		c.Status, c.Reason, c.Message = corev1.ConditionFalse, ReasonContainersNotInitialized, strings.Join(msgs, ", ")
	}
	return c
}
