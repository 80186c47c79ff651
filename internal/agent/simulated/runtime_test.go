package simulated

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/runtimetest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newRuntime(t *testing.T, clk Clock) *Runtime {
	t.Helper()
	r, err := New(Options{NodeIP: "10.240.0.1", PodCIDR: "10.244.0.0/24", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRuntimeContract(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) agent.Runtime { return newRuntime(t, nil) }, runtimetest.Options{Image: "nginx", PullImage: "registry.local/app:1"})
}

func TestBehaviourFor(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		container   string
		regularInit bool
		want        behaviour
	}{
		{"runs forever by default", nil, "app", false, behaviour{runFor: -1}},
		{"regular init containers complete at once", nil, "init", true, behaviour{runFor: 0}},
		{"exit code alone exits at once", map[string]string{AnnotationExitCode: "3"}, "app", false, behaviour{runFor: 0, exitCode: 3}},
		{"run duration and exit code", map[string]string{AnnotationExitCode: "1", AnnotationRunDuration: "2s"}, "app", false, behaviour{runFor: 2 * time.Second, exitCode: 1}},
		{"run duration alone exits 0", map[string]string{AnnotationRunDuration: "1m"}, "app", false, behaviour{runFor: time.Minute}},
		{"per-container value wins", map[string]string{AnnotationRunDuration: "1m", AnnotationRunDuration + ".app": "5s"}, "app", false, behaviour{runFor: 5 * time.Second}},
		{"per-container value for another container", map[string]string{AnnotationExitCode + ".other": "1"}, "app", false, behaviour{runFor: -1}},
		{"pod-wide values skip regular init containers", map[string]string{AnnotationExitCode: "1", AnnotationRunDuration: "1m"}, "init", true, behaviour{runFor: 0}},
		{"init containers follow their own values", map[string]string{AnnotationExitCode + ".init": "2"}, "init", true, behaviour{runFor: 0, exitCode: 2}},
		{"typos count as unset", map[string]string{AnnotationExitCode: "one", AnnotationRunDuration: "soon"}, "app", false, behaviour{runFor: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := behaviourFor(tc.annotations, tc.container, tc.regularInit); got != tc.want {
				t.Errorf("behaviourFor = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestProber(t *testing.T) {
	c := &corev1.Container{Name: "app"}
	started := agent.ContainerStatus{StartedAt: t0}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		at          time.Duration
		want        agent.ProbeResult
	}{
		{"ready at once", nil, 0, agent.ProbeResult{Started: true, Ready: true}},
		{"never ready", map[string]string{AnnotationReady: "false"}, time.Hour, agent.ProbeResult{Started: true}},
		{"ready later", map[string]string{AnnotationReadyAfter: "5s"}, 2 * time.Second, agent.ProbeResult{Started: true, Recheck: 3 * time.Second}},
		{"ready after the delay", map[string]string{AnnotationReadyAfter: "5s"}, 5 * time.Second, agent.ProbeResult{Started: true, Ready: true}},
		{"per container", map[string]string{AnnotationReady: "false", AnnotationReady + ".app": "true"}, 0, agent.ProbeResult{Started: true, Ready: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}}
			if got := (Prober{}).Probe(pod, c, started, t0.Add(tc.at)); got != tc.want {
				t.Errorf("Probe = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIPAM(t *testing.T) {
	p, err := newIPAM("10.244.3.0/24")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for i := range 253 {
		addr, err := p.allocate(types.UID(string(rune('a'+i%26)) + string(rune('a'+i/26))))
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if seen[addr] || !p.prefix.Contains(addr) || addr.As4()[3] < 2 || addr.As4()[3] > 254 {
			t.Fatalf("allocation %d: %s (duplicate, outside the prefix or reserved)", i, addr)
		}
		seen[addr] = true
	}
	if _, err := p.allocate("one-too-many"); err == nil {
		t.Fatal("a full /24 handed out a 254th address")
	}
	p.release(netip.MustParseAddr("10.244.3.77"))
	if addr, err := p.allocate("late"); err != nil || addr.String() != "10.244.3.77" {
		t.Fatalf("after a release: %v, %v", addr, err)
	}

	// The same UID gets the same address in a fresh pool.
	a, _ := newIPAM("10.244.0.0/24")
	b, _ := newIPAM("10.244.0.0/24")
	x, _ := a.allocate("pod-uid")
	y, _ := b.allocate("pod-uid")
	if x != y {
		t.Errorf("same UID, different addresses: %s %s", x, y)
	}
	if _, err := newIPAM("10.0.0.0/31"); err == nil {
		t.Error("a /31 was accepted as a pod CIDR")
	}
}

func TestNodeAddressPlan(t *testing.T) {
	for _, tc := range []struct {
		index  int
		ip     string
		podNet string
	}{
		{0, "10.240.0.1", "10.244.0.0/24"},
		{253, "10.240.0.254", "10.244.253.0/24"},
		{254, "10.240.1.1", "10.244.254.0/24"},
		{256, "10.240.1.3", "10.245.0.0/24"},
		{3071, "10.240.12.24", "10.255.255.0/24"},
	} {
		if got := NodeIPFor(tc.index).String(); got != tc.ip {
			t.Errorf("NodeIPFor(%d) = %s, want %s", tc.index, got, tc.ip)
		}
		if got := PodCIDRFor(tc.index).String(); got != tc.podNet {
			t.Errorf("PodCIDRFor(%d) = %s, want %s", tc.index, got, tc.podNet)
		}
	}
}

func TestImageRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                        "docker.io/library/nginx",
		"nginx:1.27":                   "docker.io/library/nginx",
		"bitnami/redis":                "docker.io/bitnami/redis",
		"registry.local:5000/team/app": "registry.local:5000/team/app",
		"localhost/app:dev":            "localhost/app",
	} {
		ref := imageRef(in)
		if len(ref) != len(want)+len("@sha256:")+64 || ref[:len(want)] != want {
			t.Errorf("imageRef(%q) = %q, want %s@sha256:<64 hex>", in, ref, want)
		}
	}
	if imageRef("nginx") != imageRef("docker.io/library/nginx:latest") {
		t.Error("a short name and its normalized form have different digests")
	}
	if imageRef("nginx:1") == imageRef("nginx:2") {
		t.Error("two tags share a digest")
	}
}

// TestScriptedExit drives a container through its scripted life on a fake
// clock: running, then exited with its code at exactly its run time, with
// an event to say so.
func TestScriptedExit(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	r := newRuntime(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var events []agent.ContainerEvent
	go func() {
		_ = r.WatchEvents(ctx, func(ev agent.ContainerEvent) { mu.Lock(); events = append(events, ev); mu.Unlock() })
	}()
	for !clkHasHandler(r) {
		time.Sleep(time.Millisecond)
	}

	sb, err := r.RunPodSandbox(ctx, &agent.SandboxConfig{PodUID: "u1", Annotations: map[string]string{
		AnnotationRunDuration: "3s", AnnotationExitCode: "4",
	}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.CreateContainer(ctx, sb, &agent.ContainerConfig{Name: "app", Image: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	state := func() agent.ContainerStatus {
		list, _ := r.ListContainers(ctx, agent.ContainerFilter{PodUID: "u1"})
		return list[0]
	}
	clk.Step(2 * time.Second)
	if c := state(); c.State != agent.ContainerRunning {
		t.Fatalf("at 2s: %+v", c)
	}
	clk.Step(2 * time.Second)
	c := state()
	if c.State != agent.ContainerExited || c.ExitCode != 4 || c.Reason != "Error" || !c.FinishedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("at 4s: %+v, want exited with 4 at 3s", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0].PodUID != "u1" || events[0].ContainerID != id || events[0].State != agent.ContainerExited {
		t.Errorf("events = %+v", events)
	}
}

func clkHasHandler(r *Runtime) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.handlers) > 0
}

func TestStopBeforeScriptedExit(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	r := newRuntime(t, clk)
	ctx := context.Background()
	sb, _ := r.RunPodSandbox(ctx, &agent.SandboxConfig{PodUID: "u1", Annotations: map[string]string{AnnotationRunDuration: "10s", AnnotationExitCode: "1"}})
	id, _ := r.CreateContainer(ctx, sb, &agent.ContainerConfig{Name: "app", Image: "nginx"})
	_ = r.StartContainer(ctx, id)
	clk.Step(time.Second)
	_ = r.StopContainer(ctx, id, 30*time.Second)
	clk.Step(time.Minute)
	list, _ := r.ListContainers(ctx, agent.ContainerFilter{SandboxID: sb})
	if c := list[0]; c.State != agent.ContainerExited || c.ExitCode != 0 || !c.FinishedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("stopped container = %+v, want exit 0 when stopped, not its scripted exit", c)
	}
}

func TestHostNetworkSandboxUsesNodeIP(t *testing.T) {
	r := newRuntime(t, nil)
	sb, _ := r.RunPodSandbox(context.Background(), &agent.SandboxConfig{PodUID: "u1", HostNetwork: true})
	list, _ := r.ListPodSandboxes(context.Background(), agent.SandboxFilter{})
	if len(list) != 1 || list[0].ID != sb || len(list[0].IPs) != 1 || list[0].IPs[0] != "10.240.0.1" {
		t.Errorf("host-network sandbox = %+v", list)
	}
}

func TestUpdatePodCIDR(t *testing.T) {
	r := newRuntime(t, nil)
	ctx := context.Background()
	if err := r.UpdatePodCIDR(ctx, "10.42.7.0/24"); err != nil {
		t.Fatal(err)
	}
	_, _ = r.RunPodSandbox(ctx, &agent.SandboxConfig{PodUID: "u1"})
	list, _ := r.ListPodSandboxes(ctx, agent.SandboxFilter{PodUID: "u1"})
	if !netip.MustParsePrefix("10.42.7.0/24").Contains(netip.MustParseAddr(list[0].IPs[0])) {
		t.Errorf("after UpdatePodCIDR the pod got %s", list[0].IPs[0])
	}
}

// TestRestore rebuilds a pod's runtime state from its API status and
// checks the runtime reports it back the same.
func TestRestore(t *testing.T) {
	clk := testingclock.NewFakeClock(t0.Add(time.Hour))
	r := newRuntime(t, clk)
	started := metav1.NewTime(t0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "app"}, {Name: "crashy"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &started, PodIPs: []corev1.PodIP{{IP: "10.244.0.42"}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", ContainerID: "simulated://init-id", Image: "busybox",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, StartedAt: started, FinishedAt: started}}}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", ContainerID: "simulated://app-id", Image: "nginx", ImageID: "docker.io/library/nginx@sha256:abc", RestartCount: 1,
					State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, ContainerID: "simulated://app-old", StartedAt: started, FinishedAt: started}}},
				{Name: "crashy", Image: "nginx", RestartCount: 4,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "simulated://crashy-4", StartedAt: started, FinishedAt: metav1.NewTime(t0.Add(time.Second))}}},
			},
		},
	}
	finished := pod.DeepCopy()
	finished.UID, finished.Status.Phase = "u2", corev1.PodSucceeded
	if err := r.Restore(context.Background(), []*corev1.Pod{pod, finished}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sbs, _ := r.ListPodSandboxes(ctx, agent.SandboxFilter{})
	if len(sbs) != 1 || sbs[0].PodUID != "u1" || sbs[0].State != agent.SandboxReady || sbs[0].IPs[0] != "10.244.0.42" {
		t.Fatalf("sandboxes = %+v", sbs)
	}
	got := map[string]agent.ContainerStatus{}
	list, _ := r.ListContainers(ctx, agent.ContainerFilter{PodUID: "u1"})
	for _, c := range list {
		got[c.ID] = c
	}
	want := map[string]struct {
		state   agent.ContainerState
		attempt uint32
		code    int32
	}{
		"init-id": {agent.ContainerExited, 0, 0}, "app-id": {agent.ContainerRunning, 1, 0},
		"app-old": {agent.ContainerExited, 0, 2}, "crashy-4": {agent.ContainerExited, 4, 1},
	}
	if len(got) != len(want) {
		t.Errorf("restored containers = %+v", list)
	}
	for id, w := range want {
		c, ok := got[id]
		if !ok || c.State != w.state || c.Attempt != w.attempt || c.ExitCode != w.code || !c.StartedAt.Equal(t0) {
			t.Errorf("container %s = %+v, want %+v", id, c, w)
		}
	}
	if c := got["crashy-4"]; !c.FinishedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("crashy finished at %v", c.FinishedAt)
	}
	if c := got["app-id"]; c.ImageRef != "docker.io/library/nginx@sha256:abc" {
		t.Errorf("app image ref = %q", c.ImageRef)
	}
	// The restored IP is held: a new pod cannot get it.
	r.mu.Lock()
	holder := r.ipam.used[netip.MustParseAddr("10.244.0.42")]
	r.mu.Unlock()
	if holder != "u1" {
		t.Errorf("restored IP held by %q", holder)
	}
}
