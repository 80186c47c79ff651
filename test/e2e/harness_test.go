package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// skiffBin is the binary under test, built once by TestMain.
var skiffBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("SKIFF_BIN"); bin != "" {
		skiffBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "skiff-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	skiffBin = filepath.Join(dir, "skiff")
	build := exec.Command("go", "build", "-o", skiffBin, "github.com/skiff-sh/skiff/cmd/skiff")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building skiff:", err)
		return 1
	}
	return m.Run()
}

// cluster is one running `skiff server` process.
type cluster struct {
	t       *testing.T
	dataDir string
	port    int
	args    []string // extra server flags
	agent   bool     // run the real node agent (no --disable-agent)
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	exited  chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster starts a server on a new data dir and waits until it serves.
func startCluster(t *testing.T, args ...string) *cluster {
	c := &cluster{t: t, dataDir: t.TempDir(), port: freePort(t), args: args}
	c.start()
	t.Cleanup(c.stop)
	return c
}

// startAgentCluster is startCluster with the real node agent: containerd
// under the data dir, pods on it. dataDir must be short (containerd's
// socket path lives under it).
func startAgentCluster(t *testing.T, dataDir string, args ...string) *cluster {
	c := &cluster{t: t, dataDir: dataDir, port: freePort(t), args: args, agent: true}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *cluster) start() {
	c.t.Helper()
	c.logs = &bytes.Buffer{}
	flags := []string{"server", "--data-dir", c.dataDir, "--https-port", fmt.Sprint(c.port)}
	if !c.agent {
		flags = append(flags, "--disable-agent")
	}
	c.cmd = exec.Command(skiffBin, append(flags, c.args...)...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(c.cmd, c.exited)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(c.kubeconfig()); err == nil {
			if _, err := c.kubectlErr("get", "--raw", "/readyz"); err == nil {
				return
			}
		}
		select {
		case <-c.exited:
			c.t.Fatalf("server exited during start:\n%s", c.logs)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("server not ready in 20s:\n%s", c.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits; it is safe to call on a stopped cluster.
func (c *cluster) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
			c.t.Errorf("server did not stop on SIGTERM within 15s")
		}
	}
	c.cmd = nil
}

// kill sends SIGKILL, as a crash would.
func (c *cluster) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
	c.cmd = nil
}

func (c *cluster) kubeconfig() string { return filepath.Join(c.dataDir, "kubeconfig.yaml") }

func (c *cluster) restConfig() *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig())
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 5000, 5000
	return cfg
}

func (c *cluster) client() kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(c.restConfig())
}

// kubectl runs `skiff kubectl` and fails the test on error.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) kubectlErr(args ...string) (string, error) {
	return c.kubectlIn("", args...)
}

// kubectlIn runs kubectl with stdin.
func (c *cluster) kubectlIn(stdin string, args ...string) (string, error) {
	return c.runKubectl(stdin, nil, args...)
}

// kubectlEnv runs kubectl with extra environment variables.
func (c *cluster) kubectlEnv(env []string, args ...string) (string, error) {
	return c.runKubectl("", env, args...)
}

func (c *cluster) runKubectl(stdin string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, skiffBin, append([]string{"kubectl"}, args...)...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+c.kubeconfig()), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectlCmd is a kubectl command to start (and stop) by hand, for
// long-running ones such as logs -f and port-forward.
func (c *cluster) kubectlCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(skiffBin, append([]string{"kubectl"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig())
	return cmd
}

// eventually polls cond until it holds or 60 s pass.
func (c *cluster) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
