package agent

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
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// hookRuntime records the calls lifecycle hooks make: stops (with their
// grace periods) and execs. The embedded Runtime is nil: any other call
// panics, which is part of the test.
type hookRuntime struct {
	Runtime
	mu       sync.Mutex
	stops    map[string]time.Duration
	execs    [][]string
	execCode int32
	execErr  error
	// block, when set, makes ExecSync wait for its context to end.
	block   bool
	started chan struct{}
}

func (r *hookRuntime) StopContainer(_ context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops[id] = grace
	return nil
}

func (r *hookRuntime) ExecSync(ctx context.Context, _ string, cmd []string, _ time.Duration) ([]byte, []byte, int32, error) {
	r.mu.Lock()
	r.execs = append(r.execs, cmd)
	block := r.block
	r.mu.Unlock()
	if block {
		close(r.started)
		<-ctx.Done()
		return nil, nil, -1, ctx.Err()
	}
	return []byte("out"), nil, r.execCode, r.execErr
}

func (r *hookRuntime) stopped(id string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.stops[id]
	return g, ok
}

// noExecRuntime is a runtime without ExecSync, like the simulated one.
type noExecRuntime struct{ Runtime }

func hookAgent(rt Runtime) (*Agent, *clocktesting.FakeClock, *record.FakeRecorder) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	rec := record.NewFakeRecorder(100)
	return &Agent{
		cfg: Config{NodeName: "n", Clock: clk, Recorder: rec, Prober: alwaysReady{}}, runtime: rt, hostIPs: []string{"192.0.2.1"},
		pods: NewPodWatch(fake.NewClientset(), "n"), postStartCancels: map[types.UID]context.CancelFunc{},
	}, clk, rec
}

func hookPod(lc *corev1.Lifecycle) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers:                    []corev1.Container{{Name: "app", Lifecycle: lc}},
		},
	}
}

func events(rec *record.FakeRecorder) string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

// TestPreStopExec: the preStop command runs in the container before it
// is stopped, with the whole grace period left (no time passed).
func TestPreStopExec(t *testing.T) {
	rt := &hookRuntime{stops: map[string]time.Duration{}}
	a, _, rec := hookAgent(rt)
	pod := hookPod(&corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/drain"}}}})
	if err := a.killContainer(context.Background(), pod, ContainerStatus{ID: "c1", Name: "app"}, "10.0.0.1", 30*time.Second, "Stopping container app"); err != nil {
		t.Fatal(err)
	}
	if g, ok := rt.stopped("c1"); !ok || g != 30*time.Second || len(rt.execs) != 1 || rt.execs[0][0] != "/drain" {
		t.Errorf("stopped %v with %s, execs %v; want /drain run, then a stop with 30s", ok, g, rt.execs)
	}
	rt.execCode = 1
	if err := a.killContainer(context.Background(), pod, ContainerStatus{ID: "c2", Name: "app"}, "10.0.0.1", 30*time.Second, "Stopping container app"); err != nil {
		t.Fatal(err)
	}
	if _, ok := rt.stopped("c2"); !ok {
		t.Error("a container whose preStop hook failed was not stopped")
	}
	if ev := events(rec); !strings.Contains(ev, "Normal Killing Stopping container app") || !strings.Contains(ev, "Warning FailedPreStopHook") {
		t.Errorf("events %q, want Killing and FailedPreStopHook", ev)
	}
}

// TestPreStopSleepUsesGrace: a sleep hook's time comes out of the grace
// period StopContainer gets.
func TestPreStopSleepUsesGrace(t *testing.T) {
	rt := &hookRuntime{stops: map[string]time.Duration{}}
	a, clk, _ := hookAgent(rt)
	pod := hookPod(&corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}})
	done := make(chan error, 1)
	go func() {
		done <- a.killContainer(context.Background(), pod, ContainerStatus{ID: "c1", Name: "app"}, "", 30*time.Second, "Stopping container app")
	}()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	if _, ok := rt.stopped("c1"); ok {
		t.Fatal("stopped before the sleep hook ended")
	}
	clk.Step(5 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g, _ := rt.stopped("c1"); g != 25*time.Second {
		t.Errorf("grace after a 5s preStop sleep = %s, want 25s", g)
	}
}

// TestPreStopHTTPGet: the hook reaches the pod IP on the named port.
func TestPreStopHTTPGet(t *testing.T) {
	var hit string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = r.URL.Path }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	rt := &hookRuntime{stops: map[string]time.Duration{}}
	a, _, _ := hookAgent(rt)
	pod := hookPod(&corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/shutdown", Port: intstr.FromString("web")}}})
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}
	if err := a.killContainer(context.Background(), pod, ContainerStatus{ID: "c1", Name: "app"}, u.Hostname(), 30*time.Second, "Stopping container app"); err != nil {
		t.Fatal(err)
	}
	if _, ok := rt.stopped("c1"); hit != "/shutdown" || !ok {
		t.Errorf("hook hit %q, stopped %v; want /shutdown and a stop", hit, ok)
	}
}

// TestPostStartFailureKills: a failing postStart hook kills the
// container, with a FailedPostStartHook event; a passing one leaves it.
func TestPostStartFailureKills(t *testing.T) {
	rt := &hookRuntime{stops: map[string]time.Duration{}, execCode: 3}
	a, _, rec := hookAgent(rt)
	pod := hookPod(&corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/init"}}}})
	c := &pod.Spec.Containers[0]
	if err := a.postStart(context.Background(), pod, c, "c1", []string{"10.0.0.1"}); err == nil {
		t.Error("failing hook: no error")
	}
	if _, ok := rt.stopped("c1"); !ok {
		t.Error("container with a failed postStart hook not killed")
	}
	if ev := events(rec); !strings.Contains(ev, "Warning FailedPostStartHook") || !strings.Contains(ev, "/init") {
		t.Errorf("events %q, want FailedPostStartHook naming the command", ev)
	}
	rt.execCode = 0
	if err := a.postStart(context.Background(), pod, c, "c2", nil); err != nil {
		t.Errorf("passing hook: %v", err)
	}
	if _, ok := rt.stopped("c2"); ok {
		t.Error("container with a passing postStart hook killed")
	}
}

// TestHooksNeedExec: on a runtime that cannot exec (the simulated one)
// no hook runs, not even a sleep.
func TestHooksNeedExec(t *testing.T) {
	a, _, _ := hookAgent(noExecRuntime{})
	pod := hookPod(&corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 100}}})
	if err := a.postStart(context.Background(), pod, &pod.Spec.Containers[0], "c1", nil); err != nil {
		t.Errorf("postStart on a runtime without exec: %v", err)
	}
}

// condemn is a prober that condemns one container.
type condemn struct{ id string }

func (p condemn) Probe(_ *corev1.Pod, _ *corev1.Container, st ContainerStatus, _ time.Time) ProbeResult {
	if st.ID == p.id {
		return ProbeResult{Started: true, Kill: "Container app failed liveness probe", KillGracePeriod: 4 * time.Second}
	}
	return ProbeResult{Started: true, Ready: true}
}

// TestKillUnhealthy: the containers the prober condemns are killed with
// the probe's grace period and a Killing event saying why; the others
// are left alone.
func TestKillUnhealthy(t *testing.T) {
	rt := &hookRuntime{stops: map[string]time.Duration{}}
	a, _, rec := hookAgent(rt)
	a.cfg.Prober = condemn{id: "c1"}
	pod := hookPod(nil)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side"})
	st := newPodState(nil, []ContainerStatus{
		{ID: "c1", Name: "app", State: ContainerRunning},
		{ID: "c2", Name: "side", State: ContainerRunning},
	})
	killed, err := a.killUnhealthy(context.Background(), pod, st)
	if err != nil || !killed {
		t.Fatalf("killUnhealthy = %v, %v", killed, err)
	}
	if g, ok := rt.stopped("c1"); !ok || g != 4*time.Second {
		t.Errorf("condemned container stopped %v with %s, want 4s", ok, g)
	}
	if _, ok := rt.stopped("c2"); ok {
		t.Error("healthy container killed")
	}
	if ev := events(rec); !strings.Contains(ev, "Normal Killing Container app failed liveness probe, will be restarted") {
		t.Errorf("events %q", ev)
	}
}

// TestPostStartInterrupted: a postStart hook that never ends is cut off
// once its pod is deleted (here: gone from the cache), so the sync can
// move on to stopping the pod.
func TestPostStartInterrupted(t *testing.T) {
	rt := &hookRuntime{stops: map[string]time.Duration{}, block: true, started: make(chan struct{})}
	a, _, _ := hookAgent(rt)
	pod := hookPod(&corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/forever"}}}})
	done := make(chan error, 1)
	go func() { done <- a.postStart(context.Background(), pod, &pod.Spec.Containers[0], "c1", nil) }()
	<-rt.started
	a.interruptPostStart(pod.UID)
	if err := <-done; err == nil {
		t.Error("interrupted hook reported success")
	}
	if len(a.postStartCancels) != 0 {
		t.Errorf("cancels left behind: %v", a.postStartCancels)
	}
}
