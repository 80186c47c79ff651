package cronjob

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

type eventLog struct {
	mu     sync.Mutex
	events []string
}

var _ record.EventRecorder = (*eventLog)(nil)

func (l *eventLog) Event(_ runtime.Object, eventtype, reason, message string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, eventtype+" "+reason+" "+message)
}

func (l *eventLog) Eventf(o runtime.Object, eventtype, reason, format string, args ...any) {
	l.Event(o, eventtype, reason, fmt.Sprintf(format, args...))
}

func (l *eventLog) AnnotatedEventf(o runtime.Object, _ map[string]string, eventtype, reason, format string, args ...any) {
	l.Eventf(o, eventtype, reason, format, args...)
}

func (l *eventLog) has(reason, messagePart string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if strings.Split(e, " ")[1] == reason && strings.Contains(e, messagePart) {
			return true
		}
	}
	return false
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, "\n")
}

type env struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
	clock  *clocktesting.FakeClock
	events *eventLog
}

// startEnv runs the CronJob controller on a fake clock against a test API
// server. No Job controller runs: the test finishes Jobs itself.
func startEnv(t *testing.T) *env {
	s := servertest.Start(t, servertest.Options{})
	e := &env{t: t, client: s.Client, ns: "cron", clock: clocktesting.NewFakeClock(time.Now()), events: &eventLog{}}
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	c, err := New(controller.Context{
		Client:    s.Client,
		Informers: factory,
		Recorder:  func(string) record.EventRecorder { return e.events },
		Clock:     e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func newCronJob(name string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "* * * * *",
			TimeZone:                   ptr.To("Etc/UTC"),
			ConcurrencyPolicy:          policy,
			SuccessfulJobsHistoryLimit: ptr.To[int32](1),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
			}}}},
		},
	}
}

func (e *env) create(cj *batchv1.CronJob) {
	e.t.Helper()
	if _, err := e.client.BatchV1().CronJobs(e.ns).Create(context.Background(), cj, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) cronJob(name string) *batchv1.CronJob {
	e.t.Helper()
	cj, err := e.client.BatchV1().CronJobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cj
}

// jobs lists the Jobs that exist (deleted ones excluded), oldest name first.
func (e *env) jobs() []batchv1.Job {
	e.t.Helper()
	list, err := e.client.BatchV1().Jobs(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

func (e *env) eventually(what string, step time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s\nevents:\n%s", what, e.events)
		}
		if step > 0 {
			e.clock.Step(step)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finishJob plays the Job controller.
func (e *env) finishJob(name string, cond batchv1.JobConditionType) {
	e.t.Helper()
	job, err := e.client.BatchV1().Jobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	now := metav1.NewTime(e.clock.Now())
	job.Status.StartTime = &now
	interim := batchv1.JobSuccessCriteriaMet
	if cond == batchv1.JobFailed {
		interim = batchv1.JobFailureTarget
	} else {
		job.Status.CompletionTime = &now
	}
	for _, t := range []batchv1.JobConditionType{interim, cond} {
		job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	if _, err := e.client.BatchV1().Jobs(e.ns).UpdateStatus(context.Background(), job, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("finishing job %s: %v", name, err)
	}
}

func isActiveJob(cj *batchv1.CronJob, uid types.UID) bool { return isActive(cj, uid) }

func TestCronJobScheduleForbidAndHistory(t *testing.T) {
	e := startEnv(t)
	e.create(newCronJob("report", batchv1.ForbidConcurrent))

	// Nothing runs before the first schedule time.
	time.Sleep(200 * time.Millisecond)
	if n := len(e.jobs()); n != 0 {
		t.Fatalf("%d jobs before the schedule", n)
	}
	e.eventually("the first job", 5*time.Second, func() bool { return len(e.jobs()) == 1 })
	first := e.jobs()[0]
	scheduled, err := time.Parse(time.RFC3339, first.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	if err != nil || scheduled.Second() != 0 {
		t.Fatalf("scheduled timestamp %q: %v", first.Annotations[batchv1.CronJobScheduledTimestampAnnotation], err)
	}
	if want := fmt.Sprintf("report-%d", scheduled.Unix()/60); first.Name != want {
		t.Errorf("job name %s, want %s", first.Name, want)
	}
	if e.clock.Now().Before(scheduled) {
		t.Errorf("job for %v started at %v, before its time", scheduled, e.clock.Now())
	}
	e.eventually("the job in status.active", 0, func() bool {
		cj := e.cronJob("report")
		return isActiveJob(cj, first.UID) && cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: scheduled})
	})
	if !e.events.has(reasonSuccessfulCreate, "Created job "+first.Name) {
		t.Errorf("no SuccessfulCreate event:\n%s", e.events)
	}

	// Forbid: two more schedule times pass while the first job runs.
	e.eventually("a run forbidden", 5*time.Second, func() bool { return e.events.has(reasonJobAlreadyActive, "") })
	e.clock.Step(time.Minute)
	time.Sleep(100 * time.Millisecond)
	if n := len(e.jobs()); n != 1 {
		t.Fatalf("%d jobs while one runs under Forbid", n)
	}

	// The first job completes: the missed run starts late, once.
	e.finishJob(first.Name, batchv1.JobComplete)
	e.eventually("the second job", 0, func() bool { return len(e.jobs()) == 2 })
	e.eventually("lastSuccessfulTime and the completed job out of active", 0, func() bool {
		cj := e.cronJob("report")
		return cj.Status.LastSuccessfulTime != nil && !isActiveJob(cj, first.UID) && len(cj.Status.Active) == 1
	})
	if !e.events.has(reasonSawCompletedJob, first.Name) {
		t.Errorf("no SawCompletedJob event:\n%s", e.events)
	}
	second := e.jobs()[1]

	// With successfulJobsHistoryLimit 1, the second success removes the first.
	e.finishJob(second.Name, batchv1.JobComplete)
	e.eventually("the oldest finished job deleted", 0, func() bool {
		jobs := e.jobs()
		return len(jobs) == 1 && jobs[0].Name == second.Name
	})
	if !e.events.has(reasonSuccessfulDelete, "Deleted job "+first.Name) {
		t.Errorf("no SuccessfulDelete event:\n%s", e.events)
	}
}

func TestCronJobReplaceAndSuspend(t *testing.T) {
	e := startEnv(t)
	e.create(newCronJob("sweeper", batchv1.ReplaceConcurrent))
	e.eventually("the first job", 5*time.Second, func() bool { return len(e.jobs()) == 1 })
	first := e.jobs()[0]
	e.eventually("the first job replaced", 5*time.Second, func() bool {
		jobs := e.jobs()
		return len(jobs) == 1 && jobs[0].Name != first.Name
	})
	if !e.events.has(reasonSuccessfulDelete, "Deleted job "+first.Name) {
		t.Errorf("no SuccessfulDelete for the replaced job:\n%s", e.events)
	}

	// A merge patch: the controller writes the CronJob's status meanwhile.
	if _, err := e.client.BatchV1().CronJobs(e.ns).Patch(context.Background(), "sweeper", types.MergePatchType,
		[]byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	current := e.jobs()[0].Name
	time.Sleep(100 * time.Millisecond) // let the controller see the suspension
	for range 3 {
		e.clock.Step(time.Minute)
		time.Sleep(50 * time.Millisecond)
	}
	if jobs := e.jobs(); len(jobs) != 1 || jobs[0].Name != current {
		t.Fatalf("jobs changed while suspended: %v", jobs)
	}
}
