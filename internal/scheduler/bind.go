package scheduler

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// job is work for the binders: a binding, or an unschedulable condition.
type job struct {
	bind    bool
	at      attempt
	pod     *corev1.Pod
	node    string // for a binding
	reason  string // for a condition
	message string
}

func (s *Scheduler) runJobs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.jobs:
			if j.bind {
				s.bind(ctx, j)
			} else {
				s.writeCondition(ctx, j)
			}
		}
	}
}

// bind posts pods/binding. The API server sets PodScheduled=True; the
// informer's update then confirms the assumed pod in the cache.
func (s *Scheduler) bind(ctx context.Context, j job) {
	pod := j.pod
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: j.node},
	}
	if err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		// The space the pod was assumed to take is free again.
		s.cache.forget(pod.UID)
		s.queue.moveAll(eventAssignedPodDelete)
		if ctx.Err() != nil {
			return
		}
		if isNotFoundOrGone(err) {
			s.queue.done(j.at.key, j.at.uid)
			return
		}
		s.fail(j.at, pod, fmt.Errorf("binding rejected: %w", err), 0, false)
		return
	}
	now := s.clock.Now()
	s.latency.bound(now.Sub(j.at.firstSeen), now.Sub(j.at.popTime))
	s.queue.done(j.at.key, j.at.uid)
	s.logger.V(4).Info("Bound pod", "pod", klog.KObj(pod), "node", j.node, "attempts", j.at.attempts)
	s.recorder.Eventf(pod, corev1.EventTypeNormal, ReasonScheduled, "Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, j.node)
}

// writeCondition sets PodScheduled=False with the failure's reason and
// message, unless the pod already says exactly that or has been bound in
// the meantime.
func (s *Scheduler) writeCondition(ctx context.Context, j job) {
	pod, err := s.podLister.Pods(j.pod.Namespace).Get(j.pod.Name)
	if err != nil {
		return
	}
	for range 3 {
		if pod.UID != j.at.uid || pod.Spec.NodeName != "" {
			return
		}
		updated, changed := withScheduledCondition(pod, j.reason, j.message, metav1.NewTime(s.clock.Now()))
		if !changed {
			return
		}
		_, err = s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) {
			break
		}
		if pod, err = s.client.CoreV1().Pods(j.pod.Namespace).Get(ctx, j.pod.Name, metav1.GetOptions{}); err != nil {
			break
		}
	}
	if err != nil && ctx.Err() == nil && !isNotFoundOrGone(err) {
		s.logger.Error(err, "Writing PodScheduled condition", "pod", klog.KObj(j.pod))
	}
}

// withScheduledCondition returns a copy of pod with PodScheduled=False and
// the given reason and message; changed is false when the pod already
// carries that condition. The transition time moves only when the status
// does.
func withScheduledCondition(pod *corev1.Pod, reason, message string, now metav1.Time) (*corev1.Pod, bool) {
	want := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason,
		Message: message, ObservedGeneration: pod.Generation, LastTransitionTime: now}
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message && c.ObservedGeneration == want.ObservedGeneration {
			return pod, false
		}
		if c.Status == want.Status {
			want.LastTransitionTime = c.LastTransitionTime
		}
		out := pod.DeepCopy()
		out.Status.Conditions[i] = want
		return out, true
	}
	out := pod.DeepCopy()
	out.Status.Conditions = append(out.Status.Conditions, want)
	return out, true
}
