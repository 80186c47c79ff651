package image_test

import (
	"bytes"
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/image/containerdtest"
)

// TestImportIntoContainerd loads built archives into a real containerd
// (started here, in a temp dir) and checks they are listed in k8s.io.
func TestImportIntoContainerd(t *testing.T) {
	sock := containerdtest.Start(t).Address
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := image.Ctr{Address: sock}
	if err := c.LoadPause(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	spec := image.Spec{
		Files:      []image.File{{Path: "/bin/app", Mode: 0o755, Content: []byte("x")}},
		Entrypoint: []string{"/bin/app"},
	}
	if err := image.Build("skiff.local/app:1", spec, &buf); err != nil {
		t.Fatal(err)
	}
	if err := c.Import(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	// Loading the pause image again, as every agent start does, must work.
	if err := c.LoadPause(ctx); err != nil {
		t.Fatalf("second import: %v", err)
	}
	refs, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{image.PauseRef, "skiff.local/app:1"} {
		if !slices.Contains(refs, want) {
			t.Errorf("containerd lists %q, missing %s", refs, want)
		}
	}
}

// TestPauseRunsInContainerd runs the pause image as a container with runc:
// it must keep running, then exit 0 on SIGTERM (as PID 1 of its own PID
// namespace, where unhandled signals would be ignored).
func TestPauseRunsInContainerd(t *testing.T) {
	d := containerdtest.Start(t)
	sock := d.Address
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := image.Ctr{Address: sock}
	if err := c.LoadPause(ctx); err != nil {
		t.Fatal(err)
	}
	ctr := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock, "-n", image.Namespace}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := ctr("run", "--runc-root", d.RuncRoot, "-d", image.PauseRef, "pause-test"); err != nil {
		t.Fatalf("ctr run: %v: %s", err, out)
	}
	// The cleanup has its own deadline: ctx is cancelled before it runs.
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		for _, args := range [][]string{{"task", "kill", "-s", "SIGKILL", "pause-test"}, {"task", "delete", "-f", "pause-test"}, {"container", "delete", "pause-test"}} {
			_ = exec.CommandContext(cctx, "ctr", append([]string{"--address", sock, "-n", image.Namespace}, args...)...).Run()
		}
	})
	time.Sleep(300 * time.Millisecond)
	if out, _ := ctr("task", "ls"); !strings.Contains(out, "RUNNING") {
		t.Fatalf("pause task not running: %s", out)
	}
	if out, err := ctr("task", "kill", "-s", "SIGTERM", "pause-test"); err != nil {
		t.Fatalf("kill: %v: %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := ctr("task", "ls")
		if strings.Contains(out, "STOPPED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pause ignored SIGTERM: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// `task delete` prints the exit status of a stopped task.
	out, err := ctr("task", "delete", "pause-test")
	if err != nil || strings.Contains(out, "exited with status") && !strings.Contains(out, "status 0") {
		t.Errorf("task delete: %v: %s", err, out)
	}
}
