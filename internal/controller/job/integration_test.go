package job

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// activeWatcher follows a Job's pods through a watch and records the most
// pods ever active at once and how many were ever created.
type activeWatcher struct {
	mu        sync.Mutex
	active    map[types.UID]bool
	maxActive int
	created   int
}

func (e *env) watchActive(jobName string) *activeWatcher {
	e.t.Helper()
	w, err := e.client.CoreV1().Pods(e.ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
	aw := &activeWatcher{active: map[types.UID]bool{}}
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			aw.mu.Lock()
			if ev.Type == watch.Added {
				aw.created++
			}
			if ev.Type != watch.Deleted && isActive(pod) {
				aw.active[pod.UID] = true
			} else {
				delete(aw.active, pod.UID)
			}
			aw.maxActive = max(aw.maxActive, len(aw.active))
			aw.mu.Unlock()
		}
	}()
	return aw
}

func (aw *activeWatcher) stats() (maxActive, created int) {
	aw.mu.Lock()
	defer aw.mu.Unlock()
	return aw.maxActive, aw.created
}

func TestCompletionsWithParallelism(t *testing.T) {
	e := startEnv(t, envOptions{})
	aw := e.watchActive("work")
	e.createJob(newJob("work", 5, 2))

	// Play the kubelet: whenever pods are running, finish one.
	finished := 0
	e.eventually("5 pods to succeed", 0, func() bool {
		active := e.activePods("work")
		if len(active) > 0 {
			e.finishPod(active[0], 0, time.Now())
			finished++
		}
		return finished == 5
	})
	e.eventually("Complete condition", 0, func() bool {
		return condition(e.getJob("work"), batchv1.JobComplete) != nil
	})
	job := e.getJob("work")
	if job.Status.Succeeded != 5 || job.Status.Failed != 0 || job.Status.Active != 0 {
		t.Errorf("status: succeeded=%d failed=%d active=%d, want 5/0/0", job.Status.Succeeded, job.Status.Failed, job.Status.Active)
	}
	if c := condition(job, batchv1.JobSuccessCriteriaMet); c == nil || c.Reason != batchv1.JobReasonCompletionsReached {
		t.Errorf("SuccessCriteriaMet condition = %+v, want reason %s", c, batchv1.JobReasonCompletionsReached)
	}
	if job.Status.StartTime == nil || job.Status.CompletionTime == nil {
		t.Errorf("startTime=%v completionTime=%v, want both set", job.Status.StartTime, job.Status.CompletionTime)
	}
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncounted pods left: %+v", u)
	}
	for _, p := range e.pods("work") {
		if hasTrackingFinalizer(&p) {
			t.Errorf("pod %s still has the tracking finalizer", p.Name)
		}
	}
	maxActive, created := aw.stats()
	if maxActive > 2 {
		t.Errorf("saw %d pods active at once, parallelism is 2", maxActive)
	}
	if created != 5 {
		t.Errorf("created %d pods, want 5", created)
	}
	if n := e.events.count("SuccessfulCreate"); n != 5 {
		t.Errorf("%d SuccessfulCreate events, want 5", n)
	}
	if n := e.events.count(reasonCompleted); n != 1 {
		t.Errorf("%d Completed events, want 1:\n%s", n, e.events)
	}
}

func TestBackoffLimitExceeded(t *testing.T) {
	e := startEnv(t, envOptions{fakeClock: true})
	job := newJob("flaky", 1, 1)
	job.Spec.BackoffLimit = ptr.To[int32](2)
	e.createJob(job)

	// Three failures exceed a backoffLimit of 2. Each replacement must wait
	// out its back-off: 10s after the first failure, 20s after the second.
	var stepped time.Duration
	tick := time.Second
	for failure := 1; failure <= 3; failure++ {
		var pod corev1.Pod
		e.eventually("a pod to run", 0, func() bool {
			if active := e.activePods("flaky"); len(active) == 1 {
				pod = active[0]
				return true
			}
			if e.fake != nil {
				e.fake.Step(tick)
				stepped += tick
			}
			return false
		})
		if want := backoffDelay(int32(failure-1), podFailureBackoffBase, podFailureBackoffMax); stepped < want {
			t.Errorf("pod %d created after %v of back-off, want at least %v", failure, stepped, want)
		}
		stepped = 0
		e.finishPod(pod, 1, e.now())
	}
	e.eventually("Failed condition", 0, func() bool { return condition(e.getJob("flaky"), batchv1.JobFailed) != nil })
	got := e.getJob("flaky")
	if c := condition(got, batchv1.JobFailed); c.Reason != batchv1.JobReasonBackoffLimitExceeded {
		t.Errorf("Failed reason %q, want %s", c.Reason, batchv1.JobReasonBackoffLimitExceeded)
	}
	if condition(got, batchv1.JobFailureTarget) == nil {
		t.Error("no FailureTarget condition before Failed")
	}
	if got.Status.Failed != 3 || got.Status.Active != 0 {
		t.Errorf("failed=%d active=%d, want 3/0", got.Status.Failed, got.Status.Active)
	}
	if n := len(e.pods("flaky")); n != 3 {
		t.Errorf("%d pods exist, want the 3 failed ones", n)
	}
	if e.events.count(batchv1.JobReasonBackoffLimitExceeded) != 1 {
		t.Errorf("want one BackoffLimitExceeded event:\n%s", e.events)
	}
}

func TestIndexedJob(t *testing.T) {
	e := startEnv(t, envOptions{})
	job := newJob("indexed", 5, 3)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.Template.Spec.Subdomain = "workers"
	e.createJob(job)

	seen := map[string]bool{}
	e.eventually("every index to succeed", 0, func() bool {
		for _, p := range e.activePods("indexed") {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			if seen[ix] {
				t.Fatalf("index %s ran twice", ix)
			}
			seen[ix] = true
			checkIndexedPod(t, p, ix)
			e.finishPod(p, 0, time.Now())
		}
		return len(seen) == 5
	})
	e.eventually("Complete condition", 0, func() bool { return condition(e.getJob("indexed"), batchv1.JobComplete) != nil })
	got := e.getJob("indexed")
	if got.Status.CompletedIndexes != "0-4" || got.Status.Succeeded != 5 {
		t.Errorf("completedIndexes=%q succeeded=%d, want \"0-4\"/5", got.Status.CompletedIndexes, got.Status.Succeeded)
	}
}

func checkIndexedPod(t *testing.T, p corev1.Pod, ix string) {
	t.Helper()
	if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
		t.Errorf("pod %s: index label %q, annotation %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix)
	}
	if want := "indexed-" + ix; p.Spec.Hostname != want {
		t.Errorf("pod %s: hostname %q, want %q", p.Name, p.Spec.Hostname, want)
	}
	if want := "indexed-" + ix + "-"; p.GenerateName != want {
		t.Errorf("pod %s: generateName %q, want %q", p.Name, p.GenerateName, want)
	}
	env := p.Spec.Containers[0].Env
	if !slices.ContainsFunc(env, func(v corev1.EnvVar) bool {
		return v.Name == completionIndexEnv && v.ValueFrom != nil && v.ValueFrom.FieldRef != nil &&
			v.ValueFrom.FieldRef.FieldPath == "metadata.labels['batch.kubernetes.io/job-completion-index']"
	}) {
		t.Errorf("pod %s: no JOB_COMPLETION_INDEX from the index label in %+v", p.Name, env)
	}
}
