package job

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func (e *env) setSuspend(name string, suspend bool) {
	e.t.Helper()
	patch := []byte(`{"spec":{"suspend":false}}`)
	if suspend {
		patch = []byte(`{"spec":{"suspend":true}}`)
	}
	if _, err := e.client.BatchV1().Jobs(e.ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.t.Fatalf("setting suspend=%v: %v", suspend, err)
	}
}

func TestSuspendAndResume(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.createJob(newJob("pausable", 4, 2))
	e.eventually("2 active pods", 0, func() bool { return len(e.activePods("pausable")) == 2 })

	e.setSuspend("pausable", true)
	e.eventually("suspended with no pods", 0, func() bool {
		job := e.getJob("pausable")
		return condition(job, batchv1.JobSuspended) != nil && len(e.pods("pausable")) == 0 && job.Status.Active == 0
	})
	job := e.getJob("pausable")
	if c := condition(job, batchv1.JobSuspended); c.Reason != reasonJobSuspended {
		t.Errorf("Suspended reason %q, want %s", c.Reason, reasonJobSuspended)
	}
	if job.Status.StartTime != nil {
		t.Errorf("startTime %v kept while suspended", job.Status.StartTime)
	}
	if job.Status.Failed != 0 {
		t.Errorf("failed=%d: pods removed by suspension must not count as failures", job.Status.Failed)
	}
	if e.events.count(reasonSuspended) != 1 || e.events.count("SuccessfulDelete") != 2 {
		t.Errorf("want 1 Suspended and 2 SuccessfulDelete events:\n%s", e.events)
	}
	// Nothing starts while suspended.
	time.Sleep(200 * time.Millisecond)
	if n := len(e.pods("pausable")); n != 0 {
		t.Fatalf("%d pods created while suspended", n)
	}

	e.setSuspend("pausable", false)
	finished := 0
	e.eventually("4 pods to succeed after resuming", 0, func() bool {
		for _, p := range e.activePods("pausable") {
			e.finishPod(p, 0, time.Now())
			finished++
		}
		return finished >= 4
	})
	e.eventually("Complete condition", 0, func() bool { return condition(e.getJob("pausable"), batchv1.JobComplete) != nil })
	job = e.getJob("pausable")
	if c := findCondition(job.Status.Conditions, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionFalse || c.Reason != reasonJobResumed {
		t.Errorf("Suspended condition after resume = %+v, want False/%s", c, reasonJobResumed)
	}
	if job.Status.Succeeded != 4 || job.Status.Failed != 0 || job.Status.StartTime == nil {
		t.Errorf("succeeded=%d failed=%d startTime=%v, want 4/0/set", job.Status.Succeeded, job.Status.Failed, job.Status.StartTime)
	}
	if e.events.count(reasonResumed) != 1 {
		t.Errorf("want one Resumed event:\n%s", e.events)
	}
}

func TestActiveDeadline(t *testing.T) {
	e := startEnv(t, envOptions{fakeClock: true})
	job := newJob("slow", 1, 1)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
	e.createJob(job)
	e.eventually("a running pod", 0, func() bool { return len(e.activePods("slow")) == 1 })

	start := e.now()
	e.eventually("Failed condition", time.Second, func() bool { return condition(e.getJob("slow"), batchv1.JobFailed) != nil })
	// startTime is stored in whole seconds, so the deadline may come up to
	// a second early on the controller's clock.
	if ran := e.now().Sub(start); ran < 29*time.Second {
		t.Errorf("job failed after %v, its deadline is 30s", ran)
	}
	got := e.getJob("slow")
	if c := condition(got, batchv1.JobFailed); c.Reason != batchv1.JobReasonDeadlineExceeded {
		t.Errorf("Failed reason %q, want %s", c.Reason, batchv1.JobReasonDeadlineExceeded)
	}
	if n := len(e.pods("slow")); n != 0 {
		t.Errorf("%d pods left, the running one must be deleted", n)
	}
	if got.Status.Failed != 1 || got.Status.Active != 0 || ptr.Deref(got.Status.Terminating, -1) != 0 {
		t.Errorf("failed=%d active=%d terminating=%v, want 1/0/0", got.Status.Failed, got.Status.Active, got.Status.Terminating)
	}
	if e.events.count(batchv1.JobReasonDeadlineExceeded) != 1 {
		t.Errorf("want one DeadlineExceeded event:\n%s", e.events)
	}
}

func TestPodFailurePolicy(t *testing.T) {
	e := startEnv(t, envOptions{fakeClock: true})
	job := newJob("policed", 1, 1)
	job.Spec.BackoffLimit = ptr.To[int32](0)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
	}}
	e.createJob(job)

	// A disrupted pod is ignored: with backoffLimit 0 the Job lives on.
	var first corev1.Pod
	e.eventually("a running pod", 0, func() bool {
		active := e.activePods("policed")
		if len(active) == 1 {
			first = active[0]
		}
		return len(active) == 1
	})
	first.Status.Conditions = append(first.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler"})
	e.finishPod(first, 137, e.now())

	var second corev1.Pod
	e.eventually("a replacement pod", time.Second, func() bool {
		active := e.activePods("policed")
		if len(active) == 1 && active[0].UID != first.UID {
			second = active[0]
			return true
		}
		return false
	})
	if got := e.getJob("policed"); got.Status.Failed != 0 || condition(got, batchv1.JobFailed) != nil {
		t.Fatalf("ignored failure counted: failed=%d conditions=%+v", got.Status.Failed, got.Status.Conditions)
	}
	e.finishPod(second, 42, e.now())
	e.eventually("Failed condition", 0, func() bool { return condition(e.getJob("policed"), batchv1.JobFailed) != nil })
	c := condition(e.getJob("policed"), batchv1.JobFailed)
	if c.Reason != batchv1.JobReasonPodFailurePolicy || !strings.Contains(c.Message, "exit code 42") {
		t.Errorf("Failed condition %s: %q, want PodFailurePolicy mentioning exit code 42", c.Reason, c.Message)
	}
}

func TestTTLAfterFinished(t *testing.T) {
	e := startEnv(t, envOptions{fakeClock: true, ttl: true})
	job := newJob("shortlived", 1, 1)
	job.Spec.TTLSecondsAfterFinished = ptr.To[int32](10)
	e.createJob(job)
	e.eventually("a running pod", 0, func() bool { return len(e.activePods("shortlived")) == 1 })
	e.finishPod(e.activePods("shortlived")[0], 0, e.now())
	e.eventually("Complete condition", 0, func() bool { return condition(e.getJob("shortlived"), batchv1.JobComplete) != nil })

	// Nothing happens before the TTL.
	time.Sleep(100 * time.Millisecond)
	if e.getJob("shortlived").DeletionTimestamp != nil {
		t.Fatal("job deleted before its TTL")
	}
	start := e.now()
	var deleted *batchv1.Job
	e.eventually("the job to be deleted", time.Second, func() bool {
		got, err := e.client.BatchV1().Jobs(e.ns).Get(context.Background(), "shortlived", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true
		}
		if err == nil && got.DeletionTimestamp != nil {
			deleted = got
			return true
		}
		return false
	})
	if waited := e.now().Sub(start); waited < 9*time.Second {
		t.Errorf("deleted %v after finishing, TTL is 10s", waited)
	}
	// No garbage collector runs here, so a foreground deletion stays
	// pending with its finalizer.
	if deleted != nil && !slices.Contains(deleted.Finalizers, metav1.FinalizerDeleteDependents) {
		t.Errorf("finalizers %v: want a foreground deletion", deleted.Finalizers)
	}
}
