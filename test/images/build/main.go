// Command build writes the test images as archives `skiff image import`
// (and `ctr images import`) accept:
//
//	go run ./test/images/build DIR
//
// DIR/testserver.tar: test/images/testserver compiled statically;
// DIR/busybox.tar: the host's static busybox (Debian's busybox-static)
// with a link per applet; DIR/pause.tar: the sandbox image. It needs the Go
// toolchain, so it runs on build machines, never on nodes. Rebuilding
// from the same sources gives the same digests.
package main

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/skiff-sh/skiff/internal/image"
	"github.com/skiff-sh/skiff/test/images"
)

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: go run ./test/images/build DIR")
		os.Exit(2)
	}
	if err := buildAll(context.Background(), os.Args[1], "/bin/busybox"); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

// buildAll writes the three archives into dir.
func buildAll(ctx context.Context, dir, busyboxPath string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	server, err := compileTestServer(ctx, dir)
	if err != nil {
		return err
	}
	if err := writeArchive(filepath.Join(dir, "testserver.tar"), images.TestServerRef, testServerSpec(server)); err != nil {
		return err
	}
	bb, err := busyboxSpec(ctx, busyboxPath)
	if err != nil {
		return err
	}
	if err := writeArchive(filepath.Join(dir, "busybox.tar"), images.BusyboxRef, bb); err != nil {
		return err
	}
	var pause bytes.Buffer
	if err := image.Pause(image.PauseRef, &pause); err != nil {
		return err
	}
	path := filepath.Join(dir, "pause.tar")
	if err := os.WriteFile(path, pause.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", path, image.PauseRef)
	return nil
}

func writeArchive(path, ref string, spec image.Spec) error {
	var buf bytes.Buffer
	if err := image.Build(ref, spec, &buf); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fmt.Println("wrote", path, ref)
	return nil
}

// compileTestServer builds a static testserver. -trimpath and
// -buildvcs=false keep paths and the working tree's dirty state out of
// the binary, so the image digest depends only on the sources.
func compileTestServer(ctx context.Context, dir string) ([]byte, error) {
	out := filepath.Join(dir, ".testserver.bin")
	defer os.Remove(out)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
		"-o", out, "github.com/skiff-sh/skiff/test/images/testserver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("compiling testserver: %w\n%s", err, msg)
	}
	return os.ReadFile(out)
}

func testServerSpec(bin []byte) image.Spec {
	return image.Spec{
		Files: []image.File{
			{Path: "/testserver", Mode: 0o755, Content: bin},
			{Path: "/data/hello.txt", Content: []byte("hello from testserver\n")},
			{Path: "/tmp", Mode: fs.ModeDir | 0o1777},
		},
		Entrypoint:   []string{"/testserver"},
		ExposedPorts: []string{"8080/tcp", "9000/tcp"},
	}
}

// busyboxSpec packs a static busybox with a /bin link for each applet it
// reports (`busybox --list`), plus the few files shells expect.
func busyboxSpec(ctx context.Context, path string) (image.Spec, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return image.Spec{}, fmt.Errorf("busybox: %w (apt-get install busybox-static)", err)
	}
	if err := requireStatic(bin); err != nil {
		return image.Spec{}, fmt.Errorf("%s: %w (install busybox-static)", path, err)
	}
	list, err := exec.CommandContext(ctx, path, "--list").Output()
	if err != nil {
		return image.Spec{}, fmt.Errorf("%s --list: %w", path, err)
	}
	files := []image.File{
		{Path: "/bin/busybox", Mode: 0o755, Content: bin},
		{Path: "/etc/passwd", Content: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{Path: "/etc/group", Content: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "/tmp", Mode: fs.ModeDir | 0o1777},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		files = append(files, image.File{Path: "/bin/" + applet, Mode: fs.ModeSymlink, Link: "busybox"})
	}
	return image.Spec{
		Files: files,
		Cmd:   []string{"sh"},
		Env:   []string{"PATH=/bin"},
	}, nil
}

// requireStatic rejects a dynamically linked executable: the image has no
// libc for it.
func requireStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked")
		}
	}
	return nil
}
