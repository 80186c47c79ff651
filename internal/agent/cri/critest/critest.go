package critest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/runtime/containerd"
)

// readyTimeout bounds the wait for containerd's socket, so that a broken
// containerd fails the test with a reason instead of hanging it until the
// go test deadline.
const readyTimeout = 30 * time.Second

// RequireRealNode skips t unless it runs as root with containerd, runc
// and ctr installed, and with each of extra: a command on PATH or an
// absolute path (exec.LookPath accepts both).
func RequireRealNode(t testing.TB, extra ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	for _, bin := range append([]string{"containerd", "runc", "ctr"}, extra...) {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh)", bin)
		}
	}
}

// RequireBridge skips t unless ip and the CNI bridge plugin that
// BridgeNetwork's config names are installed.
func RequireBridge(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed (scripts/install-deps.sh)")
	}
	if _, err := os.Stat(filepath.Join(containerd.DefaultCNIBinDir, "bridge")); err != nil {
		t.Skip("CNI plugins not installed (apt-get install containernetworking-plugins)")
	}
}

// ShortDir makes a temp dir removed when t ends. t.TempDir's path, which
// holds the test's name, would push containerd's socket past the 108-byte
// sun_path limit; prefix should be short too.
func ShortDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// BridgeNetwork writes a CNI config into dir/cni/conf, where a supervisor
// on dir/containerd reads it: a bridge named prefix plus the PID, with no
// gateway or masquerading so nothing outside the bridge changes, leases in
// dir/ipam and addresses in 10.<octet>.<PID%250>.0/24. Callers in
// different packages pass different prefixes and octets, since go test
// runs packages at once. The bridge is deleted when t ends.
func BridgeNetwork(t testing.TB, dir, prefix string, octet int) {
	t.Helper()
	bridge := fmt.Sprintf("%s%d", prefix, os.Getpid()%100000)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })
	conf := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "skiff-test-%s",
  "plugins": [{
    "type": "bridge", "bridge": %q, "isGateway": false, "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "10.%d.%d.0/24"}]]}
  }]
}`, prefix, bridge, filepath.Join(dir, "ipam"), octet, os.Getpid()%250)
	confDir := filepath.Join(dir, "cni", "conf")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "10-skiff-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// StartSupervised runs containerd on dir/containerd under the supervisor,
// with Skiff's pause image as sandbox image, and returns once it serves.
// Ending t stops it and reports an error the supervisor returned.
func StartSupervised(t testing.TB, dir string) *containerd.Supervisor {
	t.Helper()
	sup, err := containerd.New(containerd.Config{Dir: filepath.Join(dir, "containerd"), PauseImage: image.PauseRef}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("containerd supervisor: %v", err)
		}
	})
	select {
	case <-sup.Ready():
	case err := <-done:
		done <- err // for the cleanup, which waits on it
		t.Fatalf("containerd did not start: %v", err)
	case <-time.After(readyTimeout):
		t.Fatalf("containerd not ready after %s", readyTimeout)
	}
	_, _, took := sup.Stats()
	t.Logf("containerd started in %s", took.Round(time.Millisecond))
	return sup
}

// Runtime connects a CRI runtime to sup, with container logs under
// dir/pod-logs, and removes every sandbox it finds when t ends, so each
// test starts from an empty node. It is registered after StartSupervised's
// cleanup and so runs before containerd stops.
func Runtime(t testing.TB, sup *containerd.Supervisor, dir string) *cri.Runtime {
	t.Helper()
	ctx := context.Background()
	r, err := cri.New(ctx, cri.Config{Endpoint: sup.Endpoint(), LogDir: filepath.Join(dir, "pod-logs"), CgroupDriver: sup.Config().CgroupDriver})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sbs, err := r.ListPodSandboxes(ctx, agent.SandboxFilter{})
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, sb := range sbs {
			if err := r.RemovePodSandbox(ctx, sb.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		_ = r.Close(ctx)
	})
	return r
}

// RunNode runs cri.RunNode with cfg until it is Ready (cfg.Ready is
// replaced) and stops it when t ends, reporting an error it returned.
// ctx bounds the wait as well as the node's life.
func RunNode(t testing.TB, ctx context.Context, cfg cri.NodeConfig) {
	t.Helper()
	nodeCtx, stop := context.WithCancel(ctx)
	ready, done := make(chan struct{}), make(chan error, 1)
	cfg.Ready = ready
	go func() { done <- cri.RunNode(nodeCtx, cfg) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("RunNode: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the cleanup, which waits on it
		t.Fatalf("RunNode returned early: %v", err)
	case <-ctx.Done():
		t.Fatal("node not ready")
	}
}
