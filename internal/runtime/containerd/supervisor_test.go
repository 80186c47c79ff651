package containerd

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRenderConfig(t *testing.T) {
	cfg := Config{Dir: "/var/lib/skiff/containerd", PauseImage: "skiff.local/pause:1", CgroupDriver: CgroupDriverSystemd}
	out, err := cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`root = "/var/lib/skiff/containerd/root"`,
		`state = "/var/lib/skiff/containerd/state"`,
		`address = "/var/lib/skiff/containerd/containerd.sock"`,
		`sandbox_image = "skiff.local/pause:1"`,
		`conf_dir = "/var/lib/skiff/cni/conf"`,
		`bin_dir = "/usr/lib/cni"`,
		`SystemdCgroup = true`,
		`path = "/var/lib/skiff/containerd/opt"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config lacks %s:\n%s", want, out)
		}
	}
	cfg.CgroupDriver = CgroupDriverCgroupfs
	if out, _ := cfg.Render(); !strings.Contains(string(out), "SystemdCgroup = false") {
		t.Errorf("cgroupfs config:\n%s", out)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no dir":        {PauseImage: "p"},
		"no pause":      {Dir: "/x"},
		"bad driver":    {Dir: "/x", PauseImage: "p", CgroupDriver: "cgroupv3"},
		"long sun_path": {Dir: "/" + strings.Repeat("d", 100), PauseImage: "p"},
	} {
		if _, err := cfg.Render(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestSupervisor starts a real containerd, kills it and expects a restart,
// then ends the context and expects it stopped.
func TestSupervisor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("containerd not installed (scripts/install-deps.sh)")
	}
	dir, err := os.MkdirTemp("", "sksup") // short: sun_path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := New(Config{Dir: dir + "/containerd", PauseImage: "skiff.local/pause:1", StopTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready after 30s")
	}
	starts, pid, took := s.Stats()
	t.Logf("containerd started in %s", took.Round(time.Millisecond))
	if starts != 1 || pid == 0 {
		t.Fatalf("starts=%d pid=%d", starts, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, newPID, _ := s.Stats(); n == 2 && newPID != pid {
			pid = newPID
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd not restarted after being killed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Signal 0 probes for the process; after Wait reaped it, it is gone.
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("containerd %d still running after Run returned", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestSupervisorStopsLeftover leaves a containerd running on the dir, as
// a SIGKILLed agent would, and expects the next supervisor to stop it and
// start its own.
func TestSupervisorStopsLeftover(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("containerd not installed (scripts/install-deps.sh)")
	}
	dir, err := os.MkdirTemp("", "sksup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := New(Config{Dir: dir + "/containerd", PauseImage: "skiff.local/pause:1", StopTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.prepare(); err != nil {
		t.Fatal(err)
	}
	old := exec.Command("containerd", "--config", s.cfg.ConfigPath())
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	oldDone := make(chan struct{})
	go func() { _ = old.Wait(); close(oldDone) }()
	t.Cleanup(func() { _ = old.Process.Kill(); <-oldDone })
	if err := os.WriteFile(s.pidPath(), []byte(strconv.Itoa(old.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready after 30s")
	}
	select {
	case <-oldDone:
	default:
		t.Error("the leftover containerd still runs")
	}
	if _, pid, _ := s.Stats(); pid == old.Process.Pid {
		t.Error("the new containerd has the old PID")
	}
}
