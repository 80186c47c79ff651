package cri_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/runtimetest"
	"github.com/skiff-sh/skiff/internal/image"
)

// TestContract runs the runtime contract against a real containerd.
func TestContract(t *testing.T) {
	n := startNode(t)
	// The pause image, pushed to a registry on loopback, is what the
	// contract pulls.
	archive := filepath.Join(t.TempDir(), "pause.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := image.Pause(image.PauseRef, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pull := startRegistry(t, "", "").push(t, archive, image.PauseRef, "pause:contract")
	runtimetest.Run(t, func(t *testing.T) agent.Runtime { return n.runtime(t) }, runtimetest.Options{Image: image.PauseRef, PullImage: pull})
}

// TestExitedContainer runs a container that exits on its own and checks
// what the agent reads back: the exit code and reason, the event, the
// command line, environment and working directory (through the log file).
func TestExitedContainer(t *testing.T) {
	n := startNode(t)
	ref := n.exiterImage(t)
	r := n.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := make(chan agent.ContainerEvent, 16)
	go r.WatchEvents(ctx, func(e agent.ContainerEvent) { events <- e })

	begin := time.Now()
	sc := &agent.SandboxConfig{PodUID: "uid-1", PodName: "exiter", PodNamespace: "ns", Hostname: "exiter",
		DNS: &agent.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"ns.svc.cluster.local"}}}
	sb, err := r.RunPodSandbox(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	sandboxUp := time.Since(begin)
	imageRef, present, err := r.ImageStatus(ctx, ref)
	if err != nil || !present {
		t.Fatalf("image %s: present %v, %v", ref, present, err)
	}
	id, err := r.CreateContainer(ctx, sb, &agent.ContainerConfig{
		Name: "app", Image: ref, ImageRef: imageRef, Args: []string{"a", "b"}, WorkingDir: "/work",
		Env:       []agent.KeyValue{{Key: "GREETING", Value: "hi"}, {Key: "EXIT_CODE", Value: "3"}},
		Resources: &agent.Resources{CPURequestMilli: 100, CPULimitMilli: 200, MemoryLimitBytes: 64 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	t.Logf("sandbox up in %s; sandbox+container started in %s", sandboxUp.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))

	select {
	case e := <-events:
		if e.ContainerID != id || e.PodUID != "uid-1" {
			t.Errorf("event %+v, want container %s of uid-1", e, id)
		}
	case <-ctx.Done():
		t.Fatal("no event for the container")
	}
	var c agent.ContainerStatus
	for {
		list, err := r.ListContainers(ctx, agent.ContainerFilter{PodUID: "uid-1"})
		if err != nil || len(list) != 1 {
			t.Fatalf("containers = %+v, %v", list, err)
		}
		if c = list[0]; c.State == agent.ContainerExited || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.State != agent.ContainerExited || c.ExitCode != 3 || c.Reason != "Error" || c.Image != ref || c.ImageRef == "" || c.FinishedAt.Before(c.StartedAt) {
		t.Errorf("exited container: %+v", c)
	}
	logFile := filepath.Join(n.dir, "pod-logs", "ns_exiter_uid-1", "app", "0.log")
	// The log is copied from the container's stdout asynchronously: give
	// it a moment after the exit.
	want := "args=[a b] wd=/work greeting=hi"
	var log []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if log, _ = os.ReadFile(logFile); strings.Contains(string(log), want) {
			break
		}
	}
	if !strings.Contains(string(log), want) {
		t.Errorf("log %s = %q, want it to contain %q", logFile, log, want)
	}
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(logFile))); !os.IsNotExist(err) {
		t.Errorf("pod log directory left after its last sandbox was removed: %v", err)
	}
}
