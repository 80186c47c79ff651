package statefulset

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// readyCondition returns pod's Ready condition, or nil.
func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// isCreated tells a pod read from the API (the server always sets a
// phase) from a placeholder the sync built for a missing ordinal.
func isCreated(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

func isPending(pod *corev1.Pod) bool     { return pod.Status.Phase == corev1.PodPending }
func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// isTerminal reports a pod that will never run again: StatefulSet pods
// are replaced whether they failed or exited successfully (for example
// after a node reboot killed them).
func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

func isRunningAndReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return pod.Status.Phase == corev1.PodRunning && c != nil && c.Status == corev1.ConditionTrue
}

// isHealthy is running, ready and not on its way out.
func isHealthy(pod *corev1.Pod) bool { return isRunningAndReady(pod) && !isTerminating(pod) }

// isAvailable reports whether pod has been ready for minReadySeconds.
// Example: ready since 10:00:00 with minReadySeconds=5 is available from
// just after 10:00:05 (upstream requires strictly after, as here).
func isAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isRunningAndReady(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := readyCondition(pod)
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// untilAvailable returns how long until a running, ready pod becomes
// available; 0 if it already is, or is not ready.
func untilAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if minReadySeconds == 0 || !isRunningAndReady(pod) {
		return 0
	}
	c := readyCondition(pod)
	if c.LastTransitionTime.IsZero() {
		return 0
	}
	return max(c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Sub(now), 0)
}
