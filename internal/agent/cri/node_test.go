package cri_test

import (
	"bytes"
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

// node is a throwaway containerd with a bridge CNI network, for tests.
type node struct {
	dir      string
	endpoint string
	driver   string
}

// startNode starts containerd under the supervisor in a temp dir, with a
// CNI bridge the test owns, and imports the pause image. Everything is
// undone when t ends: sandboxes are removed by the runtimes' cleanups
// (registered later, so run earlier), then containerd is stopped and the
// bridge deleted.
func startNode(t *testing.T) *node {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	for _, bin := range []string{"containerd", "runc", "ctr", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh)", bin)
		}
	}
	if _, err := os.Stat(filepath.Join(containerd.DefaultCNIBinDir, "bridge")); err != nil {
		t.Skip("CNI plugins not installed (apt-get install containernetworking-plugins)")
	}
	// A short base keeps the socket path under the 108-byte limit.
	dir, err := os.MkdirTemp("", "skcri")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bridge := fmt.Sprintf("skcri%d", os.Getpid()%100000)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })
	writeCNIConfig(t, filepath.Join(dir, "cni", "conf"), bridge, dir)

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
		done <- err
		t.Fatalf("containerd did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("containerd not ready after 30s")
	}
	_, _, took := sup.Stats()
	t.Logf("containerd started in %s", took.Round(time.Millisecond))
	ctr := image.Ctr{Address: sup.Config().SocketPath()}
	if err := ctr.LoadPause(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &node{dir: dir, endpoint: sup.Endpoint(), driver: sup.Config().CgroupDriver}
}

// writeCNIConfig writes a bridge network on a bridge of the test's own,
// without gateway or masquerading so nothing outside the bridge changes,
// and with host-local's leases in the temp dir.
func writeCNIConfig(t *testing.T, confDir, bridge, dir string) {
	t.Helper()
	conf := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "skiff-test",
  "plugins": [{
    "type": "bridge", "bridge": %q, "isGateway": false, "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "10.254.%d.0/24"}]]}
  }]
}`, bridge, filepath.Join(dir, "ipam"), os.Getpid()%250)
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "10-skiff-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runtime connects a CRI runtime and removes every sandbox it finds when t
// ends, so each test starts from an empty node.
func (n *node) runtime(t *testing.T) *cri.Runtime {
	t.Helper()
	ctx := context.Background()
	r, err := cri.New(ctx, cri.Config{Endpoint: n.endpoint, LogDir: filepath.Join(n.dir, "pod-logs"), CgroupDriver: n.driver})
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

// exiterImage builds testdata/exiter statically and imports it as an image.
func (n *node) exiterImage(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "exiter")
	build := exec.Command("go", "build", "-o", bin, "./testdata/exiter")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building exiter: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	const ref = "skiff.local/exiter:test"
	var buf bytes.Buffer
	spec := image.Spec{Files: []image.File{{Path: "/exiter", Mode: 0o755, Content: body}, {Path: "/work", Mode: 0o755 | os.ModeDir}}, Entrypoint: []string{"/exiter"}}
	if err := image.Build(ref, spec, &buf); err != nil {
		t.Fatal(err)
	}
	if err := (image.Ctr{Address: filepath.Join(n.dir, "containerd", "containerd.sock")}).Import(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return ref
}
