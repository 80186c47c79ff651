package agent

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// podActions is one step towards what a pod's spec asks of the runtime,
// like the kubelet's computePodActions: the agent executes it, reads the
// runtime's state back and computes the next step, until a step is empty
// (everything that should run is running, or waits for an exit, a
// back-off or a probe).
type podActions struct {
	createSandbox bool
	// start lists containers to start, in order.
	start []*corev1.Container
	// stop lists running instances to stop: sidecars once the regular
	// containers are done for good.
	stop []ContainerStatus
	// waiting says why a container that should run is not started, by
	// name (CrashLoopBackOff).
	waiting map[string]*corev1.ContainerStateWaiting
	// retryAfter, when positive, is when the soonest back-off ends.
	retryAfter time.Duration
}

func (a *podActions) empty() bool {
	return !a.createSandbox && len(a.start) == 0 && len(a.stop) == 0
}

// backOffFunc reports how long a container that last exited at finished
// must still wait before it restarts (0: restart now), and the back-off
// delay currently in force for it.
type backOffFunc func(key string, finished time.Time) (remaining, delay time.Duration)

// computePodActions is the next step for a pod that is not being deleted.
// started reports whether a running container passed its startup probe.
func computePodActions(pod *corev1.Pod, st podState, backOff backOffFunc, started func(*ContainerStatus) bool) podActions {
	a := podActions{waiting: map[string]*corev1.ContainerStateWaiting{}}
	if !st.sandboxReady() {
		// A pod that never restarts and already ran gets no second
		// sandbox: it is over.
		if st.sandbox != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && len(st.containers) > 0 {
			return a
		}
		// Otherwise start over in a new sandbox, init containers first.
		// (The old instances still count for restart counts: the agent
		// reads them when it picks the next attempt.)
		a.createSandbox = true
		st = podState{}
	}
	initialized := st.anyRegularStarted(pod)
	if !initialized {
		if done := a.initStep(pod, st, backOff, started); !done {
			return a
		}
	} else {
		// Once initialized, only sidecars that died need attention.
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			if cur, _ := st.latest(c.Name); isSidecar(c) && (cur == nil || cur.State != ContainerRunning) {
				a.startOrWait(pod, c, cur, backOff)
			}
		}
	}
	allDone := true
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur, _ := st.latest(c.Name)
		if !shouldRestart(pod, cur) {
			if cur == nil || cur.State != ContainerExited {
				allDone = false
			}
			continue
		}
		allDone = false
		a.startOrWait(pod, c, cur, backOff)
	}
	if allDone {
		// The regular containers are done for good: sidecars go too.
		a.stopSidecars(pod, st)
	}
	return a
}

// initStep runs the init containers in order and reports whether they are
// all done: regular ones exited successfully, sidecars running and
// started. It stops at the first one that is not.
func (a *podActions) initStep(pod *corev1.Pod, st podState, backOff backOffFunc, started func(*ContainerStatus) bool) bool {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cur, _ := st.latest(c.Name)
		if isSidecar(c) {
			if cur != nil && cur.State == ContainerRunning {
				if started(cur) {
					continue
				}
				return false
			}
			a.startOrWait(pod, c, cur, backOff)
			return false
		}
		switch {
		case cur == nil || cur.State == ContainerCreated || cur.State == ContainerUnknown:
			a.start = append(a.start, c)
		case cur.State == ContainerRunning:
		case cur.ExitCode == 0:
			continue
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			// The pod has failed; its sidecars stop.
			a.stopSidecars(pod, st)
		default:
			a.startOrWait(pod, c, cur, backOff)
		}
		return false
	}
	return true
}

// startOrWait starts c unless its last instance exited too recently, in
// which case it records CrashLoopBackOff and when to try again.
func (a *podActions) startOrWait(pod *corev1.Pod, c *corev1.Container, cur *ContainerStatus, backOff backOffFunc) {
	if cur != nil && cur.State == ContainerExited {
		remaining, delay := backOff(backOffKey(pod, c.Name), cur.FinishedAt)
		if remaining > 0 {
			a.waiting[c.Name] = &corev1.ContainerStateWaiting{
				Reason:  ReasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.Name, podDescription(pod)),
			}
			if a.retryAfter <= 0 || remaining < a.retryAfter {
				a.retryAfter = remaining
			}
			return
		}
	}
	a.start = append(a.start, c)
}

func (a *podActions) stopSidecars(pod *corev1.Pod, st podState) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if cur, _ := st.latest(c.Name); isSidecar(c) && cur != nil && cur.State == ContainerRunning {
			a.stop = append(a.stop, *cur)
		}
	}
}

// shouldRestart is the kubelet's ShouldContainerBeRestarted for a regular
// container whose newest instance is cur.
func shouldRestart(pod *corev1.Pod, cur *ContainerStatus) bool {
	switch {
	case pod.DeletionTimestamp != nil:
		return false
	case cur == nil || cur.State == ContainerCreated || cur.State == ContainerUnknown:
		return true
	case cur.State == ContainerRunning:
		return false
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return cur.ExitCode != 0
	default:
		return true
	}
}
