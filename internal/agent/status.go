package agent

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Waiting reasons the agent reports, as the kubelet does.
const (
	ReasonContainerCreating = "ContainerCreating"
	ReasonPodInitializing   = "PodInitializing"
	ReasonCrashLoopBackOff  = "CrashLoopBackOff"
	// ReasonStatusUnknown marks a container that was running and that the
	// runtime no longer knows.
	ReasonStatusUnknown = "ContainerStatusUnknown"
)

// statusInput is everything a pod's status is computed from.
type statusInput struct {
	pod *corev1.Pod
	// old is the basis: what the agent last wrote, else the API's status.
	// It carries transition times, start time and the fields the agent
	// does not own.
	old   *corev1.PodStatus
	state podState
	// podIPs are the sandbox's IPs, or the old ones once it has none.
	podIPs  []string
	hostIPs []string
	// probe gives the startup and readiness of a running container.
	probe func(c *corev1.Container, st *ContainerStatus) ProbeResult
	// waiting holds why a container that should run is not running
	// (CrashLoopBackOff, a start error), by container name.
	waiting     map[string]*corev1.ContainerStateWaiting
	runtimeName string
	// terminal is set once the pod is shut down for good (it was deleted
	// and its containers stopped): its phase becomes Succeeded or Failed.
	terminal bool
	// failure, when set, fails the pod whatever its containers say (the
	// kubelet's eviction handlers: activeDeadlineSeconds).
	failure *podFailure
	now     time.Time
}

// podFailure is why the agent failed a pod.
type podFailure struct {
	reason, message string
}

// computePodStatus is the kubelet's generateAPIPodStatus: the pod status
// as the runtime's state, the prober's verdicts and the previous status
// determine it. It is a pure function.
func computePodStatus(in statusInput) corev1.PodStatus {
	pod, old := in.pod, in.old
	s := corev1.PodStatus{
		// Fields the agent does not own pass through unchanged.
		NominatedNodeName:           old.NominatedNodeName,
		QOSClass:                    old.QOSClass,
		Resize:                      old.Resize,
		ResourceClaimStatuses:       old.ResourceClaimStatuses,
		ExtendedResourceClaimStatus: old.ExtendedResourceClaimStatus,
		ObservedGeneration:          pod.Generation,
		StartTime:                   old.StartTime,
	}
	if s.StartTime == nil {
		s.StartTime = ptr.To(metav1.NewTime(in.now).Rfc3339Copy())
	}
	for _, ip := range in.hostIPs {
		s.HostIPs = append(s.HostIPs, corev1.HostIP{IP: ip})
	}
	ips := in.podIPs
	if len(ips) == 0 && pod.Spec.HostNetwork {
		ips = in.hostIPs
	}
	for _, ip := range ips {
		s.PodIPs = append(s.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(s.HostIPs) > 0 {
		s.HostIP = s.HostIPs[0].IP
	}
	if len(s.PodIPs) > 0 {
		s.PodIP = s.PodIPs[0].IP
	}
	hasInit := len(pod.Spec.InitContainers) > 0
	s.InitContainerStatuses = containerStatuses(in, pod.Spec.InitContainers, old.InitContainerStatuses, true, hasInit)
	s.ContainerStatuses = containerStatuses(in, pod.Spec.Containers, old.ContainerStatuses, false, hasInit)
	slices.SortStableFunc(s.ContainerStatuses, func(a, b corev1.ContainerStatus) int { return strings.Compare(a.Name, b.Name) })

	s.Phase = podPhase(pod, s.InitContainerStatuses, s.ContainerStatuses, in.terminal, in.state.anyRegularStarted(pod))
	// A terminal phase is final: once written, no later computation may
	// take it back (the API server would refuse it).
	if !isTerminal(s.Phase) {
		if isTerminal(old.Phase) {
			s.Phase = old.Phase
		} else if isTerminal(pod.Status.Phase) {
			s.Phase = pod.Status.Phase
		}
	}
	if s.Phase == old.Phase {
		s.Reason, s.Message = old.Reason, old.Message
	}
	if f := in.failure; f != nil && !isTerminal(old.Phase) && !isTerminal(pod.Status.Phase) {
		s.Phase, s.Reason, s.Message = corev1.PodFailed, f.reason, f.message
	}
	s.Conditions = podConditions(in, &s)
	return s
}

// containerStatuses converts the runtime's instances of containers into
// API statuses, the way the kubelet's convertToAPIContainerStatuses does.
func containerStatuses(in statusInput, specs []corev1.Container, old []corev1.ContainerStatus, isInit, hasInit bool) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	defaultWaiting := ReasonContainerCreating
	if hasInit {
		defaultWaiting = ReasonPodInitializing
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		spec := &specs[i]
		var prev *corev1.ContainerStatus
		for j := range old {
			if old[j].Name == spec.Name {
				prev = &old[j]
			}
		}
		st := corev1.ContainerStatus{
			Name:  spec.Name,
			Image: spec.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: defaultWaiting}},
		}
		if prev != nil {
			st.RestartCount = prev.RestartCount
			st.LastTerminationState = prev.LastTerminationState
		}
		cur, before := in.state.latest(spec.Name)
		switch {
		case cur != nil:
			st.State = apiContainerState(cur, in.runtimeName)
			st.RestartCount = int32(cur.Attempt)
			st.ImageID = cur.ImageRef
			st.ContainerID = containerID(in.runtimeName, cur.ID)
			if cur.Image != "" {
				st.Image = cur.Image
			}
			st.LastTerminationState = corev1.ContainerState{}
			if before != nil {
				st.LastTerminationState = apiContainerState(before, in.runtimeName)
			}
		case prev != nil && prev.State.Terminated != nil:
			// The runtime no longer has it, but it finished: keep what
			// was reported.
			st = *prev.DeepCopy()
		case prev != nil && prev.State.Running != nil && st.LastTerminationState.Terminated == nil:
			// It was running and the runtime lost it: report that it
			// ended, so the pod does not fall back to Pending.
			st.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason:   ReasonStatusUnknown,
				Message:  "The container could not be located when the pod was deleted.  The container used to be Running",
				ExitCode: 137,
			}}
			if in.pod.DeletionTimestamp == nil {
				st.RestartCount++
			}
		}
		if w := in.waiting[spec.Name]; w != nil && st.State.Running == nil {
			if st.State.Terminated != nil {
				st.LastTerminationState = st.State
			}
			st.State = corev1.ContainerState{Waiting: w.DeepCopy()}
		}
		setStartedReady(in, spec, cur, &st, isInit)
		out = append(out, st)
	}
	return out
}

// setStartedReady applies the prober's verdict. A regular init container
// is ready once it has exited successfully; every other container is ready
// while it runs, has started and passes readiness.
func setStartedReady(in statusInput, spec *corev1.Container, cur *ContainerStatus, st *corev1.ContainerStatus, isInit bool) {
	started, ready := false, false
	if st.State.Running != nil && cur != nil {
		r := in.probe(spec, cur)
		started = r.Started
		ready = r.Started && r.Ready
	}
	if isInit && !isSidecar(spec) {
		ready = st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
	}
	st.Started = &started
	st.Ready = ready
}

// apiContainerState converts one runtime instance's state.
func apiContainerState(c *ContainerStatus, runtimeName string) corev1.ContainerState {
	switch c.State {
	case ContainerRunning:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt).Rfc3339Copy()}}
	case ContainerExited:
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode:    c.ExitCode,
			Reason:      c.Reason,
			Message:     c.Message,
			StartedAt:   metav1.NewTime(c.StartedAt).Rfc3339Copy(),
			FinishedAt:  metav1.NewTime(c.FinishedAt).Rfc3339Copy(),
			ContainerID: containerID(runtimeName, c.ID),
		}}
	default:
		// Created but not started, or unknown: waiting to run.
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	}
}

// containerID is the API's form of a container ID: "runtime://id".
func containerID(runtimeName, id string) string {
	return runtimeName + "://" + id
}

func isTerminal(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}
