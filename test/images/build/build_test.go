package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/internal/image/containerdtest"
	"github.com/skiff-sh/skiff/test/images"
)

func buildInto(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the Go toolchain")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs Debian's busybox-static (scripts/install-deps.sh)")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := buildAll(ctx, dir, "/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBuildIsReproducible: building twice gives byte-identical archives,
// so `skiff image import` of a rebuilt, unchanged image changes nothing.
func TestBuildIsReproducible(t *testing.T) {
	a, b := buildInto(t), buildInto(t)
	for _, name := range []string{"testserver.tar", "busybox.tar", "pause.tar"} {
		x, err1 := os.ReadFile(filepath.Join(a, name))
		y, err2 := os.ReadFile(filepath.Join(b, name))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", name, err1, err2)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds", name)
		}
	}
	if _, err := os.Stat(filepath.Join(a, ".testserver.bin")); err == nil {
		t.Error("the intermediate binary was left behind")
	}
}

// TestImagesRunInContainerd imports the archives into a containerd started
// for the test and runs busybox and the testserver with runc.
func TestImagesRunInContainerd(t *testing.T) {
	dir := buildInto(t)
	d := containerdtest.Start(t)
	sock := d.Address
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := image.Ctr{Address: sock}
	for _, name := range []string{"testserver.tar", "busybox.tar", "pause.tar"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Import(ctx, f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	refs, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{images.TestServerRef, images.BusyboxRef, image.PauseRef} {
		if !slices.Contains(refs, want) {
			t.Errorf("missing %s in %q", want, refs)
		}
	}
	ctr := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock, "-n", image.Namespace}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := ctr("run", "--runc-root", d.RuncRoot, "--rm", images.BusyboxRef, "bb", "sh", "-c", "ls /bin/wget >/dev/null && echo hello $(cat /etc/group | wc -l)")
	if err != nil || out != "hello 2" {
		t.Errorf("busybox: %v: %q", err, out)
	}
	runTestServer(t, ctr, sock, d.RuncRoot)
}

// runTestServer starts the testserver on the host network (loopback only),
// checks /healthz, then stops it with SIGTERM.
func runTestServer(t *testing.T, ctr func(...string) (string, error), sock, runcRoot string) {
	addr := freeAddr(t)
	if out, err := ctr("run", "--runc-root", runcRoot, "-d", "--net-host", images.TestServerRef, "ts", "/testserver", "-http", addr, "-tcp", ""); err != nil {
		t.Fatalf("run testserver: %v: %s", err, out)
	}
	t.Cleanup(func() { removeContainer(t, sock, "ts") })
	var lastErr error
	for i := 0; i < 50; i++ {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("healthz: %d", resp.StatusCode)
			}
			lastErr = nil
			break
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("testserver never answered: %v", lastErr)
	}
	if out, err := ctr("task", "kill", "-s", "SIGTERM", "ts"); err != nil {
		t.Fatalf("SIGTERM: %v: %s", err, out)
	}
	for i := 0; ; i++ {
		if out, _ := ctr("task", "ls"); strings.Contains(out, "STOPPED") {
			return
		} else if i > 50 {
			t.Fatalf("testserver ignored SIGTERM: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// removeContainer kills and deletes a container so its shim exits. It runs
// from t.Cleanup, after the test's own context is cancelled, so it has its
// own deadline.
func removeContainer(t *testing.T, sock, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, args := range [][]string{{"task", "kill", "-s", "SIGKILL", id}, {"task", "delete", "-f", id}, {"container", "delete", id}} {
		args = append([]string{"--address", sock, "-n", image.Namespace}, args...)
		if out, err := exec.CommandContext(ctx, "ctr", args...).CombinedOutput(); err != nil && !strings.Contains(string(out), "not found") {
			t.Logf("cleanup: ctr %v: %v: %s", args, err, out)
		}
	}
}
