// Package runtimetest is the contract every agent.Runtime implementation
// passes: the simulated runtime today, the CRI one next. It checks what the
// agent relies on: sandboxes and containers move through their states,
// filters select by pod and sandbox, stop and remove are idempotent, and
// removing a sandbox removes its containers; images report whether they
// are present, and pulling (when the runtime has a registry to pull
// from) returns the same reference ImageStatus then reports.
package runtimetest

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/agent"
)

// Options adapt the suite to a runtime.
type Options struct {
	// Image runs until stopped (for CRI, a local image such as pause);
	// it must be present already.
	Image string
	// PullImage, when set, is an image the runtime can pull (for CRI,
	// from a registry on loopback); empty skips the pull checks.
	PullImage string
	// Timeout bounds each call.
	Timeout time.Duration
}

// Run runs the contract against runtimes made by newRuntime, one per
// subtest.
func Run(t *testing.T, newRuntime func(t *testing.T) agent.Runtime, opts Options) {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, r agent.Runtime, opts Options)
	}{
		{"Version", testVersion},
		{"SandboxLifecycle", testSandboxLifecycle},
		{"ImageStatus", testImageStatus},
		{"ContainerLifecycle", testContainerLifecycle},
		{"Filters", testFilters},
		{"RemoveSandboxRemovesContainers", testRemoveSandbox},
		{"UnknownIDs", testUnknownIDs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
			defer cancel()
			tc.fn(t, ctx, newRuntime(t), opts)
		})
	}
}

func testImageStatus(t *testing.T, ctx context.Context, r agent.Runtime, opts Options) {
	if ref, present := must2(r.ImageStatus(ctx, opts.Image))(t); !present || ref == "" {
		t.Errorf("ImageStatus(%s) = %q, %v; want present with a reference", opts.Image, ref, present)
	}
	if opts.PullImage == "" {
		return
	}
	ref := must(r.PullImage(ctx, opts.PullImage, nil, sandboxConfig("u1")))(t)
	if ref == "" {
		t.Fatal("PullImage returned no reference")
	}
	if got, present := must2(r.ImageStatus(ctx, opts.PullImage))(t); !present || got != ref {
		t.Errorf("after PullImage(%s) = %q: ImageStatus = %q, %v", opts.PullImage, ref, got, present)
	}
	// Pulling again pulls (or at least succeeds) even though it is present.
	if again := must(r.PullImage(ctx, opts.PullImage, nil, nil))(t); again != ref {
		t.Errorf("second PullImage = %q, want %q", again, ref)
	}
}

// must2 is must for calls returning two values.
func must2[A, B any](a A, b B, err error) func(t *testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func sandboxConfig(uid types.UID) *agent.SandboxConfig {
	return &agent.SandboxConfig{PodUID: uid, PodName: "p-" + string(uid), PodNamespace: "ns", Hostname: "p"}
}

// must(call())(t) is call's value, failing t if call failed.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func testVersion(t *testing.T, ctx context.Context, r agent.Runtime, _ Options) {
	v := must(r.Version(ctx))(t)
	if v.Name == "" || v.Version == "" {
		t.Errorf("version = %+v, want a name and a version", v)
	}
}

func testSandboxLifecycle(t *testing.T, ctx context.Context, r agent.Runtime, _ Options) {
	id := must(r.RunPodSandbox(ctx, sandboxConfig("u1")))(t)
	list := must(r.ListPodSandboxes(ctx, agent.SandboxFilter{PodUID: "u1"}))(t)
	if len(list) != 1 || list[0].ID != id || list[0].State != agent.SandboxReady || len(list[0].IPs) == 0 || list[0].PodUID != "u1" {
		t.Fatalf("after RunPodSandbox: %+v", list)
	}
	if err := r.StopPodSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	list = must(r.ListPodSandboxes(ctx, agent.SandboxFilter{PodUID: "u1"}))(t)
	if len(list) != 1 || list[0].State != agent.SandboxNotReady || len(list[0].IPs) != 0 {
		t.Fatalf("after StopPodSandbox: %+v", list)
	}
	if err := r.StopPodSandbox(ctx, id); err != nil {
		t.Errorf("stopping twice: %v", err)
	}
	if err := r.RemovePodSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if list = must(r.ListPodSandboxes(ctx, agent.SandboxFilter{PodUID: "u1"}))(t); len(list) != 0 {
		t.Fatalf("after RemovePodSandbox: %+v", list)
	}
}

func testContainerLifecycle(t *testing.T, ctx context.Context, r agent.Runtime, opts Options) {
	sb := must(r.RunPodSandbox(ctx, sandboxConfig("u1")))(t)
	ref, present := must2(r.ImageStatus(ctx, opts.Image))(t)
	if !present || ref == "" {
		t.Fatalf("ImageStatus(%s) = %q, %v; want present with a reference", opts.Image, ref, present)
	}
	id := must(r.CreateContainer(ctx, sb, &agent.ContainerConfig{Name: "app", Attempt: 3, Image: opts.Image, ImageRef: ref}))(t)
	get := func() agent.ContainerStatus {
		t.Helper()
		list := must(r.ListContainers(ctx, agent.ContainerFilter{SandboxID: sb}))(t)
		if len(list) != 1 {
			t.Fatalf("containers = %+v", list)
		}
		return list[0]
	}
	if c := get(); c.ID != id || c.State != agent.ContainerCreated || c.Name != "app" || c.Attempt != 3 || c.PodUID != "u1" || c.SandboxID != sb {
		t.Fatalf("after CreateContainer: %+v", c)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c := get(); c.State != agent.ContainerRunning || c.StartedAt.IsZero() || c.ImageRef == "" {
		t.Fatalf("after StartContainer: %+v", c)
	}
	if err := r.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	c := get()
	if c.State != agent.ContainerExited || c.FinishedAt.Before(c.StartedAt) {
		t.Fatalf("after StopContainer: %+v", c)
	}
	if err := r.StopContainer(ctx, id, time.Second); err != nil {
		t.Errorf("stopping twice: %v", err)
	}
	if err := r.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if list := must(r.ListContainers(ctx, agent.ContainerFilter{SandboxID: sb}))(t); len(list) != 0 {
		t.Fatalf("after RemoveContainer: %+v", list)
	}
}

func testFilters(t *testing.T, ctx context.Context, r agent.Runtime, opts Options) {
	ids := map[types.UID]string{}
	for _, uid := range []types.UID{"u1", "u2"} {
		sb := must(r.RunPodSandbox(ctx, sandboxConfig(uid)))(t)
		ids[uid] = sb
		must(r.CreateContainer(ctx, sb, &agent.ContainerConfig{Name: "app", Image: opts.Image}))(t)
	}
	for uid, sb := range ids {
		list := must(r.ListContainers(ctx, agent.ContainerFilter{PodUID: uid}))(t)
		if len(list) != 1 || list[0].PodUID != uid || list[0].SandboxID != sb {
			t.Errorf("containers of %s: %+v", uid, list)
		}
		sbs := must(r.ListPodSandboxes(ctx, agent.SandboxFilter{PodUID: uid}))(t)
		if len(sbs) != 1 || sbs[0].ID != sb {
			t.Errorf("sandboxes of %s: %+v", uid, sbs)
		}
	}
	if all := must(r.ListContainers(ctx, agent.ContainerFilter{}))(t); len(all) != 2 {
		t.Errorf("all containers: %+v", all)
	}
	if all := must(r.ListPodSandboxes(ctx, agent.SandboxFilter{}))(t); len(all) != 2 {
		t.Errorf("all sandboxes: %+v", all)
	}
	a := must(r.ListPodSandboxes(ctx, agent.SandboxFilter{PodUID: "u1"}))(t)
	b := must(r.ListPodSandboxes(ctx, agent.SandboxFilter{PodUID: "u2"}))(t)
	if len(a) == 1 && len(b) == 1 && a[0].IPs[0] == b[0].IPs[0] {
		t.Errorf("two pods share IP %s", a[0].IPs[0])
	}
}

func testRemoveSandbox(t *testing.T, ctx context.Context, r agent.Runtime, opts Options) {
	sb := must(r.RunPodSandbox(ctx, sandboxConfig("u1")))(t)
	id := must(r.CreateContainer(ctx, sb, &agent.ContainerConfig{Name: "app", Image: opts.Image}))(t)
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if list := must(r.ListContainers(ctx, agent.ContainerFilter{PodUID: "u1"}))(t); len(list) != 0 {
		t.Errorf("containers left after RemovePodSandbox: %+v", list)
	}
}

func testUnknownIDs(t *testing.T, ctx context.Context, r agent.Runtime, _ Options) {
	for name, err := range map[string]error{
		"StopPodSandbox":   r.StopPodSandbox(ctx, "nope"),
		"RemovePodSandbox": r.RemovePodSandbox(ctx, "nope"),
		"StopContainer":    r.StopContainer(ctx, "nope", time.Second),
		"RemoveContainer":  r.RemoveContainer(ctx, "nope"),
	} {
		if err != nil {
			t.Errorf("%s of an unknown ID: %v, want nil", name, err)
		}
	}
	if _, err := r.CreateContainer(ctx, "nope", &agent.ContainerConfig{Name: "app"}); err == nil {
		t.Error("CreateContainer in an unknown sandbox succeeded")
	}
}
