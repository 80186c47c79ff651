package replicaset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// readyCondition returns the pod's Ready condition, or nil.
func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isPodReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isPodAvailable: ready, and ready for longer than minReadySeconds at now.
// Example: ready since 10:00:00 with minReadySeconds=5 is available from
// any instant after 10:00:05.
func isPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() &&
		c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

func isPodTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// isPodActive: counts toward replicas. Terminating pods do not, so a
// replacement is created as soon as a pod starts shutting down.
func isPodActive(p *corev1.Pod) bool {
	return !isPodTerminal(p) && p.DeletionTimestamp == nil
}

func isPodTerminating(p *corev1.Pod) bool {
	return !isPodTerminal(p) && p.DeletionTimestamp != nil
}

// computeStatus is the owner's status given the active pods it controls,
// the number of its terminating pods (nil when the kind does not report
// them), and the error of this sync's create/delete step.
func computeStatus(o *owner, pods []*corev1.Pod, terminating *int32, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	st := *o.status.DeepCopy()
	var templateLabels labels.Set
	if o.template != nil {
		templateLabels = o.template.Labels
	}
	fullyLabeled := templateLabels.AsSelectorPreValidated()
	var labeled, ready, available int32
	for _, p := range pods {
		if fullyLabeled.Matches(labels.Set(p.Labels)) {
			labeled++
		}
		if isPodReady(p) {
			ready++
			if isPodAvailable(p, o.minReadySeconds, now) {
				available++
			}
		}
	}
	st.Replicas = int32(len(pods))
	st.FullyLabeledReplicas = labeled
	st.ReadyReplicas = ready
	st.AvailableReplicas = available
	st.TerminatingReplicas = terminating
	st.ObservedGeneration = o.meta.GetGeneration()

	failed := failureCondition(st.Conditions)
	switch {
	case manageErr != nil && failed == nil:
		// The reason says which way we were moving when it failed.
		reason := ""
		if diff := len(pods) - int(o.replicas); diff < 0 {
			reason = podcontrol.ReasonFailedCreate
		} else if diff > 0 {
			reason = podcontrol.ReasonFailedDelete
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type:               appsv1.ReplicaSetReplicaFailure,
			Status:             corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now),
			Reason:             reason,
			Message:            manageErr.Error(),
		})
	case manageErr == nil && failed != nil:
		st.Conditions = removeFailure(st.Conditions)
	}
	return st
}

func failureCondition(cs []appsv1.ReplicaSetCondition) *appsv1.ReplicaSetCondition {
	for i := range cs {
		if cs[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &cs[i]
		}
	}
	return nil
}

func removeFailure(cs []appsv1.ReplicaSetCondition) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range cs {
		if c.Type != appsv1.ReplicaSetReplicaFailure {
			out = append(out, c)
		}
	}
	return out
}

// nextAvailableIn returns how long until the earliest pod that is ready
// but not yet available becomes available, plus one second because
// condition timestamps are stored with second precision.
//
// Example: minReadySeconds=10, a pod ready since 10:00:00, now 10:00:04:
// it turns available just after 10:00:10, so requeue in 6s+1s = 7s.
func nextAvailableIn(pods []*corev1.Pod, minReadySeconds int32, now time.Time) (time.Duration, bool) {
	if minReadySeconds == 0 {
		return 0, false
	}
	var best time.Duration
	found := false
	for _, p := range pods {
		c := readyCondition(p)
		if c == nil || c.Status != corev1.ConditionTrue || c.LastTransitionTime.IsZero() ||
			isPodAvailable(p, minReadySeconds, now) {
			continue
		}
		wait := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		if !found || wait < best {
			best, found = wait, true
		}
	}
	if !found {
		return 0, false
	}
	return max(best, 0) + time.Second, true
}
