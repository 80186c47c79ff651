package prober

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/agent"
)

// wait bounds every wait for a worker, so a broken manager fails the
// test instead of hanging it; nothing is asserted about durations.
const wait = 30 * time.Second

// lockstep is an HTTP endpoint whose every request the test answers by
// hand: the worker blocks in its probe until the test says what the
// container answers, so the test knows exactly which probe it is at.
type lockstep struct {
	requests chan time.Time // when (on the fake clock) each probe came
	codes    chan int
	clk      *clocktesting.FakeClock
}

func newLockstep(t *testing.T, clk *clocktesting.FakeClock) (*lockstep, string, int) {
	l := &lockstep{requests: make(chan time.Time), codes: make(chan int), clk: clk}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case l.requests <- clk.Now():
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(<-l.codes)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	return l, u.Hostname(), port
}

// next waits for the worker's next probe and answers it with code.
func (l *lockstep) next(t *testing.T, code int) time.Time {
	t.Helper()
	select {
	case at := <-l.requests:
		l.codes <- code
		return at
	case <-time.After(wait):
		t.Fatal("no probe came")
		return time.Time{}
	}
}

// env is a running Manager on a fake clock, with its resyncs counted.
type env struct {
	m       *Manager
	clk     *clocktesting.FakeClock
	rec     *record.FakeRecorder
	mu      sync.Mutex
	resyncs int
}

func newEnv(t *testing.T, execer *fakeExecer) *env {
	t.Helper()
	e := &env{clk: clocktesting.NewFakeClock(time.Unix(1_000_000, 0)), rec: record.NewFakeRecorder(1000)}
	cfg := Config{Clock: e.clk, Recorder: e.rec}
	if execer != nil {
		cfg.Execer = execer
	}
	e.m = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.m.Run(ctx, func(types.UID) { e.mu.Lock(); e.resyncs++; e.mu.Unlock() })
	}()
	t.Cleanup(func() { cancel(); <-done })
	// Run sets itself up before any worker starts; wait for that.
	for {
		e.m.mu.Lock()
		ok := e.m.ctx != nil
		e.m.mu.Unlock()
		if ok {
			return e
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) resyncCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.resyncs
}

// tick moves the fake clock one period on once the worker waits on its
// ticker.
func (e *env) tick(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !e.clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("no worker waits on the clock")
		}
		time.Sleep(time.Millisecond)
	}
	e.clk.Step(d)
}

func testPod(c corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	}
}

func running(id string, at time.Time) agent.ContainerStatus {
	return agent.ContainerStatus{ID: id, Name: "app", State: agent.ContainerRunning, StartedAt: at}
}

func httpProbe(port int, period, success, failure int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(port))}},
		PeriodSeconds: period, SuccessThreshold: success, FailureThreshold: failure, TimeoutSeconds: 5,
	}
}

// TestReadinessThresholds walks a readiness probe through its thresholds:
// unready until successThreshold passes in a row, ready through fewer
// than failureThreshold failures, unready at the threshold, with a
// resync and an Unhealthy event along the way.
func TestReadinessThresholds(t *testing.T) {
	e := newEnv(t, nil)
	srv, ip, port := newLockstep(t, e.clk)
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: httpProbe(port, 1, 2, 2)})
	st := running("c1", e.clk.Now())
	if r := e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now()); !r.Started || r.Ready {
		t.Fatalf("before any probe: %+v, want started and not ready", r)
	}
	e.m.UpdatePod(pod, ip, []agent.ContainerStatus{st})
	ready := func() bool { return e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now()).Ready }

	srv.next(t, 200) // first probe at once
	e.tick(t, time.Second)
	srv.next(t, 200)
	if ready() {
		t.Error("ready after one success, successThreshold is 2")
	}
	e.tick(t, time.Second)
	srv.next(t, 500) // the second success has been applied by now
	if !ready() || e.resyncCount() != 1 {
		t.Errorf("after two successes: ready %v, resyncs %d; want true, 1", ready(), e.resyncCount())
	}
	e.tick(t, time.Second)
	srv.next(t, 500)
	if !ready() {
		t.Error("unready after one failure, failureThreshold is 2")
	}
	e.tick(t, time.Second)
	srv.next(t, 200)
	if ready() || e.resyncCount() != 2 {
		t.Errorf("after two failures: ready %v, resyncs %d; want false, 2", ready(), e.resyncCount())
	}
	if ev := drain(e.rec); !strings.Contains(ev, "Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 500") {
		t.Errorf("events %q, want Unhealthy for the failed probe", ev)
	}
}

// TestInitialDelay: no probe runs before initialDelaySeconds.
func TestInitialDelay(t *testing.T) {
	e := newEnv(t, nil)
	srv, ip, port := newLockstep(t, e.clk)
	p := httpProbe(port, 1, 1, 3)
	p.InitialDelaySeconds = 3
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: p})
	start := e.clk.Now()
	e.m.UpdatePod(pod, ip, []agent.ContainerStatus{running("c1", start)})
	done := make(chan time.Time, 1)
	go func() { done <- srv.next(t, 200) }()
	for {
		e.tick(t, time.Second)
		select {
		case at := <-done:
			if d := at.Sub(start); d < 3*time.Second {
				t.Errorf("first probe %s after the start, initialDelaySeconds is 3", d)
			}
			return
		case <-time.After(10 * time.Millisecond): // not yet: tick again
		}
	}
}

// TestLivenessKill: a liveness probe failing failureThreshold times in a
// row condemns the container (with the probe's grace period); its
// replacement starts with a clean slate.
func TestLivenessKill(t *testing.T) {
	e := newEnv(t, nil)
	srv, ip, port := newLockstep(t, e.clk)
	p := httpProbe(port, 1, 1, 2)
	p.TerminationGracePeriodSeconds = ptr.To[int64](7)
	pod := testPod(corev1.Container{Name: "app", LivenessProbe: p})
	st := running("c1", e.clk.Now())
	e.m.UpdatePod(pod, ip, []agent.ContainerStatus{st})
	srv.next(t, 500)
	e.tick(t, time.Second)
	srv.next(t, 500)
	waitFor(t, "a liveness verdict", func() bool { return e.resyncCount() == 1 })
	r := e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now())
	if r.Kill != "Container app failed liveness probe" || r.KillGracePeriod != 7*time.Second || !r.Ready {
		t.Errorf("after two failures: %+v, want a kill with 7s grace (and no readiness probe: ready)", r)
	}
	st2 := running("c2", e.clk.Now())
	e.m.UpdatePod(pod, ip, []agent.ContainerStatus{st2})
	if r := e.m.Probe(pod, &pod.Spec.Containers[0], st2, e.clk.Now()); r.Kill != "" {
		t.Errorf("the restarted container inherits the kill: %+v", r)
	}
	srv.next(t, 200) // the new instance's worker probes
}

// fakeExecer answers exec probes by command name, recording each call.
type fakeExecer struct {
	mu    sync.Mutex
	codes map[string]int32
	calls []string
}

func (f *fakeExecer) ExecSync(_ context.Context, _ string, cmd []string, _ time.Duration) ([]byte, []byte, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, cmd[0])
	return nil, nil, f.codes[cmd[0]], nil
}

func (f *fakeExecer) set(cmd string, code int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes[cmd] = code
}

func (f *fakeExecer) called(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == cmd {
			n++
		}
	}
	return n
}

func execProbe(cmd string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}, PeriodSeconds: 1, FailureThreshold: 100}
}

// TestStartupGates: readiness and liveness do not run until the startup
// probe passed; then the container reads started, and ready once its
// readiness probe passes.
func TestStartupGates(t *testing.T) {
	ex := &fakeExecer{codes: map[string]int32{"startup": 1}}
	e := newEnv(t, ex)
	pod := testPod(corev1.Container{Name: "app", StartupProbe: execProbe("startup"), ReadinessProbe: execProbe("ready"), LivenessProbe: execProbe("live")})
	st := running("c1", e.clk.Now())
	e.m.UpdatePod(pod, "10.0.0.1", []agent.ContainerStatus{st})
	waitFor(t, "the first startup probe", func() bool { return ex.called("startup") == 1 })
	for range 3 {
		e.tick(t, time.Second)
	}
	waitFor(t, "more startup probes", func() bool { return ex.called("startup") >= 2 })
	if r := e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now()); r.Started || r.Ready || r.Kill != "" {
		t.Errorf("startup failing (below its threshold): %+v, want not started", r)
	}
	if ex.called("ready")+ex.called("live") != 0 {
		t.Errorf("readiness/liveness ran %d times before startup passed", ex.called("ready")+ex.called("live"))
	}
	ex.set("startup", 0)
	waitFor(t, "startup to pass", func() bool {
		e.tick(t, time.Second)
		return e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now()).Started
	})
	waitFor(t, "readiness to pass", func() bool {
		e.tick(t, time.Second)
		return e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now()).Ready
	})
	waitFor(t, "liveness to run", func() bool {
		e.tick(t, time.Second)
		return ex.called("live") > 0
	})
}

// TestWorkersStop: workers end when their container stops running and
// when the pod is removed.
func TestWorkersStop(t *testing.T) {
	ex := &fakeExecer{codes: map[string]int32{}}
	e := newEnv(t, ex)
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready")})
	e.m.UpdatePod(pod, "10.0.0.1", []agent.ContainerStatus{running("c1", e.clk.Now())})
	if n := e.m.active.Load(); n != 1 {
		t.Fatalf("%d workers for one readiness probe", n)
	}
	e.m.UpdatePod(pod, "10.0.0.1", nil)
	waitFor(t, "the worker to stop", func() bool { return e.m.active.Load() == 0 })
	e.m.UpdatePod(pod, "10.0.0.1", []agent.ContainerStatus{running("c2", e.clk.Now())})
	if n := e.m.active.Load(); n != 1 {
		t.Fatalf("%d workers after a restart", n)
	}
	e.m.RemovePod(pod.UID)
	waitFor(t, "the worker to stop", func() bool { return e.m.active.Load() == 0 })
	if r := e.m.Probe(pod, &pod.Spec.Containers[0], running("c2", e.clk.Now()), e.clk.Now()); r.Ready {
		t.Errorf("removed pod: %+v, want the initial verdict (unready)", r)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up", what)
		}
	}
}

func drain(rec *record.FakeRecorder) string {
	var out []string
	for {
		select {
		case ev := <-rec.Events:
			out = append(out, ev)
		default:
			return strings.Join(out, "\n")
		}
	}
}

// TestAdoptsVerdicts: after an agent restart, a container the pod status
// reports ready (the same instance) stays ready until a probe says
// otherwise; another instance starts unready.
func TestAdoptsVerdicts(t *testing.T) {
	ex := &fakeExecer{codes: map[string]int32{"ready": 1}}
	e := newEnv(t, ex)
	pod := testPod(corev1.Container{Name: "app", StartupProbe: execProbe("startup"), ReadinessProbe: execProbe("ready")})
	pod.Spec.Containers[0].StartupProbe.InitialDelaySeconds = 100
	pod.Spec.Containers[0].ReadinessProbe.InitialDelaySeconds = 100
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://c1", Ready: true, Started: ptr.To(true)}}
	st := running("c1", e.clk.Now())
	e.m.UpdatePod(pod, "10.0.0.1", []agent.ContainerStatus{st})
	if r := e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now()); !r.Started || !r.Ready {
		t.Errorf("adopted instance: %+v, want started and ready", r)
	}
	st2 := running("c2", e.clk.Now())
	e.m.UpdatePod(pod, "10.0.0.1", []agent.ContainerStatus{st2})
	if r := e.m.Probe(pod, &pod.Spec.Containers[0], st2, e.clk.Now()); r.Started || r.Ready {
		t.Errorf("new instance: %+v, want neither started nor ready", r)
	}
}

// TestStartupKill: a startup probe failing failureThreshold times
// condemns the container, as a liveness failure does.
func TestStartupKill(t *testing.T) {
	ex := &fakeExecer{codes: map[string]int32{"startup": 1}}
	e := newEnv(t, ex)
	p := execProbe("startup")
	p.FailureThreshold = 2
	pod := testPod(corev1.Container{Name: "app", StartupProbe: p, LivenessProbe: execProbe("live")})
	st := running("c1", e.clk.Now())
	e.m.UpdatePod(pod, "10.0.0.1", []agent.ContainerStatus{st})
	waitFor(t, "the startup verdict", func() bool {
		if e.resyncCount() == 0 {
			e.tick(t, time.Second)
		}
		return e.resyncCount() == 1
	})
	r := e.m.Probe(pod, &pod.Spec.Containers[0], st, e.clk.Now())
	if r.Kill != "Container app failed startup probe" || r.Started || r.KillGracePeriod != 0 {
		t.Errorf("after the startup threshold: %+v, want a kill with the pod's grace period", r)
	}
	if ex.called("live") != 0 {
		t.Error("liveness ran though startup never passed")
	}
}
