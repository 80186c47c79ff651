package job

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// eventLog is an EventRecorder that keeps "Type Reason Message" lines.
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

// count returns how many events have the reason.
func (l *eventLog) count(reason string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if strings.Split(e, " ")[1] == reason {
			n++
		}
	}
	return n
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, "\n")
}

// env is a test API server with the Job controller (and optionally the TTL
// controller) running against it; the test plays the kubelet.
type env struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
	events *eventLog
	// fake is the controllers' clock when the test moves time itself.
	fake *clocktesting.FakeClock
	ctrl *Controller
	opts envOptions
	// stop stops the running controllers.
	stop func()
}

type envOptions struct {
	fakeClock bool
	ttl       bool
	// tune adjusts the controller before it starts.
	tune func(*Controller)
}

func startEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	e := &env{t: t, client: s.Client, ns: "jobs", events: &eventLog{}, opts: opts}
	if opts.fakeClock {
		e.fake = clocktesting.NewFakeClock(time.Now())
	}
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.startControllers()
	return e
}

// startControllers runs fresh controllers with their own informers, as a
// restarted `skiff server` would.
func (e *env) startControllers() {
	t := e.t
	var clk clock.WithTicker = clock.RealClock{}
	if e.fake != nil {
		clk = e.fake
	}
	factory := informers.NewSharedInformerFactory(e.client, 0)
	cc := controller.Context{
		Client:    e.client,
		Informers: factory,
		Recorder:  func(string) record.EventRecorder { return e.events },
		Clock:     clk,
	}
	c, err := New(cc)
	if err != nil {
		t.Fatal(err)
	}
	c.batchPeriod = 0
	if e.opts.tune != nil {
		e.opts.tune(c)
	}
	e.ctrl = c
	runners := []interface{ Run(context.Context) error }{c}
	if e.opts.ttl {
		ttl, err := NewTTLAfterFinished(cc)
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, ttl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				t.Errorf("controller: %v", err)
			}
		})
	}
	factory.Start(ctx.Done())
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			factory.Shutdown()
		})
	}
	t.Cleanup(e.stop)
}

// newJob is a Job of one container that the test finishes by hand.
func newJob(name string, completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions:  ptr.To(completions),
			Parallelism:  ptr.To(parallelism),
			BackoffLimit: ptr.To[int32](6),
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
				},
			},
		},
	}
}

func (e *env) createJob(job *batchv1.Job) *batchv1.Job {
	e.t.Helper()
	created, err := e.client.BatchV1().Jobs(e.ns).Create(context.Background(), job, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating job: %v", err)
	}
	return created
}

func (e *env) getJob(name string) *batchv1.Job {
	e.t.Helper()
	job, err := e.client.BatchV1().Jobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("getting job: %v", err)
	}
	return job
}

// pods lists the Job's pods that still exist.
func (e *env) pods(jobName string) []corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
	if err != nil {
		e.t.Fatalf("listing pods: %v", err)
	}
	return list.Items
}

// activePods are the pods the kubelet would be running.
func (e *env) activePods(jobName string) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range e.pods(jobName) {
		if isActive(&p) {
			out = append(out, p)
		}
	}
	return out
}

// finishPod plays the kubelet: the pod's container exits with code and the
// pod becomes Succeeded (code 0) or Failed, at the given time.
func (e *env) finishPod(pod corev1.Pod, code int32, at time.Time) {
	e.t.Helper()
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  pod.Spec.Containers[0].Name,
		Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, FinishedAt: metav1.NewTime(at), StartedAt: metav1.NewTime(at.Add(-time.Second)),
		}},
	}}
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(at),
	})
	if _, err := e.client.CoreV1().Pods(e.ns).UpdateStatus(context.Background(), &pod, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("finishing pod %s: %v", pod.Name, err)
	}
}

// now is the controllers' time.
func (e *env) now() time.Time {
	if e.fake != nil {
		return e.fake.Now()
	}
	return time.Now()
}

// eventually polls cond until it holds or the deadline passes. With a fake
// clock, tick (if non-zero) is stepped between polls, so waits that are
// timers on that clock fire.
func (e *env) eventually(what string, tick time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s\nevents:\n%s", what, e.events)
		}
		if tick > 0 && e.fake != nil {
			e.fake.Step(tick)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// condition returns the Job's condition of type t, or nil.
func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	c := findCondition(job.Status.Conditions, t)
	if c == nil || c.Status != corev1.ConditionTrue {
		return nil
	}
	return c
}
