package job

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Pods that finish, and are even deleted, while no controller runs are
// still counted exactly once: their finalizer keeps them until counted.
func TestCountsSurviveControllerRestart(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.createJob(newJob("durable", 4, 4))
	e.eventually("4 running pods", 0, func() bool { return len(e.activePods("durable")) == 4 })

	e.stop()
	pods := e.activePods("durable")
	e.finishPod(pods[0], 0, time.Now())
	e.finishPod(pods[1], 0, time.Now())
	e.finishPod(pods[2], 3, time.Now())
	// A finished pod deleted meanwhile (by a user, the pod GC, ...).
	if err := e.client.CoreV1().Pods(e.ns).Delete(context.Background(), pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.startControllers()
	e.eventually("the finished pods counted", 0, func() bool {
		job := e.getJob("durable")
		return job.Status.Succeeded == 2 && job.Status.Failed == 1
	})

	// And once more, with the remaining pods finishing during the outage.
	e.stop()
	for _, p := range e.activePods("durable") {
		e.finishPod(p, 0, time.Now())
	}
	e.startControllers()
	// The failed pod was replaced; finish whatever runs until Complete.
	e.eventually("Complete condition", 0, func() bool {
		for _, p := range e.activePods("durable") {
			e.finishPod(p, 0, time.Now())
		}
		return condition(e.getJob("durable"), batchv1.JobComplete) != nil
	})
	job := e.getJob("durable")
	if job.Status.Succeeded != 4 || job.Status.Failed != 1 {
		t.Errorf("succeeded=%d failed=%d, want exactly 4/1", job.Status.Succeeded, job.Status.Failed)
	}
	for _, p := range e.pods("durable") {
		if hasTrackingFinalizer(&p) {
			t.Errorf("pod %s kept its finalizer", p.Name)
		}
	}
	if n := len(e.pods("durable")); n != 4 {
		t.Errorf("%d pods left, want 4 (the deleted one is gone)", n)
	}
}

// Deleting a Job that still runs must not leave its pods stuck behind the
// tracking finalizer, whether the Job is gone at once (background: the
// pods are left to the garbage collector) or lingers while it is deleted
// (orphan, foreground).
func TestDeletedJobReleasesPods(t *testing.T) {
	for _, policy := range []metav1.DeletionPropagation{metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan} {
		t.Run(string(policy), func(t *testing.T) {
			e := startEnv(t, envOptions{})
			e.createJob(newJob("doomed", 2, 2))
			e.eventually("2 running pods", 0, func() bool { return len(e.activePods("doomed")) == 2 })
			if err := e.client.BatchV1().Jobs(e.ns).Delete(context.Background(), "doomed", metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
				t.Fatal(err)
			}
			e.eventually("the finalizers released", 0, func() bool {
				for _, p := range e.pods("doomed") {
					if hasTrackingFinalizer(&p) {
						return false
					}
				}
				return true
			})
			if n := len(e.pods("doomed")); n != 2 {
				t.Errorf("%d pods left: the Job controller must not delete them itself", n)
			}
		})
	}
}

func TestBackoffLimitPerIndex(t *testing.T) {
	e := startEnv(t, envOptions{fakeClock: true})
	job := newJob("perindex", 2, 2)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.BackoffLimit = nil
	job.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	e.createJob(job)

	podOf := func(index string) *corev1.Pod {
		for _, p := range e.activePods("perindex") {
			if p.Annotations[batchv1.JobCompletionIndexAnnotation] == index {
				return &p
			}
		}
		return nil
	}
	e.eventually("both indexes running", 0, func() bool { return podOf("0") != nil && podOf("1") != nil })
	e.finishPod(*podOf("1"), 0, e.now())
	e.finishPod(*podOf("0"), 1, e.now())
	// Index 0 gets one retry, after its back-off, marked as its second try.
	e.eventually("index 0 retried", time.Second, func() bool { return podOf("0") != nil })
	retry := podOf("0")
	if got := retry.Annotations[batchv1.JobIndexFailureCountAnnotation]; got != "1" {
		t.Errorf("retry failure count %q, want 1", got)
	}
	e.finishPod(*retry, 1, e.now())
	e.eventually("Failed condition", time.Second, func() bool { return condition(e.getJob("perindex"), batchv1.JobFailed) != nil })
	got := e.getJob("perindex")
	if c := condition(got, batchv1.JobFailed); c.Reason != batchv1.JobReasonFailedIndexes {
		t.Errorf("Failed reason %q, want %s", c.Reason, batchv1.JobReasonFailedIndexes)
	}
	if ptr.Deref(got.Status.FailedIndexes, "") != "0" || got.Status.CompletedIndexes != "1" {
		t.Errorf("failedIndexes=%v completedIndexes=%q, want 0 and 1", got.Status.FailedIndexes, got.Status.CompletedIndexes)
	}
	if got.Status.Failed != 2 || got.Status.Succeeded != 1 {
		t.Errorf("failed=%d succeeded=%d, want 2/1", got.Status.Failed, got.Status.Succeeded)
	}
}

// A manualSelector Job adopts a matching orphan pod instead of starting
// its own, and counts it.
func TestAdoptsOrphanPod(t *testing.T) {
	e := startEnv(t, envOptions{})
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stray", Labels: map[string]string{"app": "adopt", batchv1.JobNameLabel: "adopter"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}
	if _, err := e.client.CoreV1().Pods(e.ns).Create(context.Background(), orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := newJob("adopter", 1, 1)
	job.Spec.ManualSelector = ptr.To(true)
	job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "adopt"}}
	job.Spec.Template.Labels = map[string]string{"app": "adopt", batchv1.JobNameLabel: "adopter"}
	created := e.createJob(job)

	e.eventually("the orphan adopted", 0, func() bool {
		p, err := e.client.CoreV1().Pods(e.ns).Get(context.Background(), "stray", metav1.GetOptions{})
		return err == nil && metav1.IsControlledBy(p, created) && hasTrackingFinalizer(p)
	})
	stray, _ := e.client.CoreV1().Pods(e.ns).Get(context.Background(), "stray", metav1.GetOptions{})
	e.finishPod(*stray, 0, time.Now())
	e.eventually("Complete condition", 0, func() bool { return condition(e.getJob("adopter"), batchv1.JobComplete) != nil })
	if pods := e.pods("adopter"); len(pods) != 1 || e.getJob("adopter").Status.Succeeded != 1 {
		t.Errorf("%d pods, succeeded=%d; want the adopted pod alone, counted once", len(pods), e.getJob("adopter").Status.Succeeded)
	}
}
