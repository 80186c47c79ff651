package cri_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/agent/cri/critest"
	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/runtime/containerd"
)

// node is a throwaway containerd with a bridge CNI network, for tests.
type node struct {
	dir string
	sup *containerd.Supervisor
}

// startNode starts containerd under the supervisor in a temp dir, with a
// CNI bridge the test owns, and imports the pause image. Everything is
// undone when t ends: sandboxes are removed by the runtimes' cleanups
// (registered later, so run earlier), then containerd is stopped and the
// bridge deleted.
func startNode(t *testing.T) *node {
	t.Helper()
	critest.RequireRealNode(t)
	critest.RequireBridge(t)
	dir := critest.ShortDir(t, "skcri")
	critest.BridgeNetwork(t, dir, "skcri", 254)
	sup := critest.StartSupervised(t, dir)
	ctr := image.Ctr{Address: sup.Config().SocketPath()}
	if err := ctr.LoadPause(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &node{dir: dir, sup: sup}
}

// runtime connects a CRI runtime and removes every sandbox it finds when t
// ends, so each test starts from an empty node.
func (n *node) runtime(t *testing.T) *cri.Runtime {
	t.Helper()
	return critest.Runtime(t, n.sup, n.dir)
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
	if err := (image.Ctr{Address: n.sup.Config().SocketPath()}).Import(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return ref
}
