package image

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writePause(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skip("the pause program is linux/amd64 only")
	}
	bin, err := PauseBinary(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPauseBinaryIsStaticELF(t *testing.T) {
	bin, err := PauseBinary("amd64")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("machine %v type %v, want x86-64 executable", f.Machine, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("pause is dynamically linked (%v)", p.Type)
		}
	}
	if len(bin) > 4096 {
		t.Errorf("pause is %d bytes, expected a few hundred", len(bin))
	}
	if _, err := PauseBinary("s390x"); err == nil {
		t.Error("an unsupported architecture must be an error, not a wrong binary")
	}
}

// TestPauseExitsOnSignal runs the real program: it must sleep until told
// to stop, then exit 0 on SIGTERM and on SIGINT.
func TestPauseExitsOnSignal(t *testing.T) {
	p := writePause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("pause exited before any signal: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		// SIGCHLD without children and SIGHUP-free: only the handled signal stops it.
		_ = cmd.Process.Signal(syscall.SIGCHLD)
		_ = cmd.Process.Signal(sig)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("after %v: %v, want exit 0", sig, err)
			}
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("pause ignored %v", sig)
		}
	}
}

// TestPauseReapsChildren makes pause the parent of a short-lived process
// (a shell forks `sleep` and then execs pause) and checks no zombie stays.
func TestPauseReapsChildren(t *testing.T) {
	p := writePause(t)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(sh, "-c", "sleep 0.2 & exec "+p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	var children string
	sawChild := false
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		if err != nil {
			t.Skipf("cannot read children: %v", err)
		}
		children = strings.TrimSpace(string(b))
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		sawChild = sawChild || children != ""
		if children == "" && exe == p {
			if !sawChild {
				t.Skip("the child exited before it could be observed; nothing shown")
			}
			return // exec'd into pause and the sleep was reaped
		}
	}
	t.Fatalf("pause still has children %q (zombies not reaped)", children)
}
