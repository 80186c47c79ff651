// Package containerdtest starts a throwaway containerd for tests: its
// root, state and socket live in a test temp dir and the daemon is stopped
// by PID when the test ends. It needs root and Debian's containerd package;
// Start skips the test when either is missing.
package containerdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// config disables the CRI plugin (importing needs only the content store,
// images and snapshots, and CRI would try to set up CNI) and the "opt"
// plugin, which otherwise writes to /opt/containerd outside the temp dir.
const config = `version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
`

// Daemon is a running test containerd.
type Daemon struct {
	// Address is the gRPC socket.
	Address string
	// RuncRoot is a runc state directory inside the temp dir. Pass it as
	// `ctr run --runc-root`: runc's default, /run/containerd/runc, is
	// shared by every containerd on the machine, so container IDs would
	// collide with other tests and leftovers would outlive the test.
	RuncRoot string
}

// Start runs containerd and returns it; it is stopped when t ends.
func Start(t *testing.T) Daemon {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd not installed (apt-get install containerd)")
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("ctr not installed (apt-get install containerd)")
	}
	// A short base keeps the socket path under the 108-byte limit.
	dir, err := os.MkdirTemp("", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "containerd.sock")
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf(config, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	t.Cleanup(func() { stop(t, cmd, sock, dir, logf) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := exec.Command("ctr", "--address", sock, "version").CombinedOutput(); err == nil {
			return Daemon{Address: sock, RuncRoot: filepath.Join(dir, "runc")}
		} else if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd not serving after 20s: %v: %s\nlog:\n%s", err, c, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop removes the tasks a test left behind (their shims outlive
// containerd otherwise), sends SIGTERM to the daemon's PID, SIGKILL after
// 10s, then lazily unmounts anything a snapshotter left under the temp dir
// before removing it.
func stop(t *testing.T, cmd *exec.Cmd, sock, dir string, logf *os.File) {
	removeTasks(t, sock)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	_ = logf.Close()
	if t.Failed() {
		if log, err := os.ReadFile(logf.Name()); err == nil {
			t.Logf("containerd log:\n%s", log)
		}
	}
	unmountUnder(dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("removing containerd dir: %v", err)
	}
}

// removeTasks kills and deletes every task in every namespace.
func removeTasks(t *testing.T, sock string) {
	ctr := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock}, args...)...).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "not found") {
			t.Logf("cleanup: ctr %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	for _, ns := range strings.Fields(ctr("namespaces", "list", "--quiet")) {
		for _, id := range strings.Fields(ctr("-n", ns, "tasks", "list", "--quiet")) {
			t.Logf("cleanup: removing leftover task %s/%s", ns, id)
			ctr("-n", ns, "tasks", "kill", "-s", "SIGKILL", id)
			ctr("-n", ns, "tasks", "delete", "-f", id)
		}
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range splitLines(string(data)) {
		var id, parent int
		var major, root, point string
		if n, _ := fmt.Sscanf(line, "%d %d %s %s %s", &id, &parent, &major, &root, &point); n == 5 &&
			len(point) > len(dir) && point[:len(dir)+1] == dir+"/" {
			mounts = append(mounts, point)
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
