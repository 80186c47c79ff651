package kubeletserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/utils/exec"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/agent/cri"
	"github.com/skiff-sh/skiff/internal/agent/cri/critest"
	"github.com/skiff-sh/skiff/internal/agent/kubeletserver"
	"github.com/skiff-sh/skiff/test/images"
)

// TestRealContainers drives the server as the API server would, with
// client-go's SPDY executor and port forwarder, against one real pod on
// containerd: busybox (exec, logs) and the testserver (port-forward).
func TestRealContainers(t *testing.T) {
	rt := startContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runTestPod(ctx, t, rt)
	c := kubeletserver.StartTestServer(t, rt, realPod)
	rc := restConfig(t, c)

	t.Run("exec", func(t *testing.T) {
		if out, err := execIn(ctx, rc, c.URL(), "busybox", "", "echo", "hi"); err != nil || out != "hi\n" {
			t.Errorf("echo hi = %q, %v", out, err)
		}
		if out, err := execIn(ctx, rc, c.URL(), "busybox", "hello\nworld\n", "cat"); err != nil || out != "hello\nworld\n" {
			t.Errorf("cat = %q, %v", out, err)
		}
		_, err := execIn(ctx, rc, c.URL(), "busybox", "", "sh", "-c", "exit 3")
		var exit utilexec.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
			t.Errorf("exit 3: %v", err)
		}
	})
	t.Run("attach", func(t *testing.T) { checkAttach(ctx, t, rc, c.URL()) })
	t.Run("port-forward", func(t *testing.T) { checkPortForward(ctx, t, rc, c.URL()) })
	t.Run("logs follow", func(t *testing.T) { checkFollowUntilExit(ctx, t, c, rc) })
}

// realPod is the pod the test runs; the agent's lookup would return it.
var realPod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-real"},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "busybox"}, {Name: "server"}}},
}

// startContainerd starts containerd in a temp dir with a CNI bridge of the
// test's own (no gateway, no masquerading), imports the pause, busybox and
// testserver images and returns a CRI runtime on it. Everything is undone
// when t ends.
func startContainerd(t *testing.T) *cri.Runtime {
	t.Helper()
	critest.RequireRealNode(t, "/bin/busybox")
	critest.RequireBridge(t)
	dir := critest.ShortDir(t, "skkls")
	critest.BridgeNetwork(t, dir, "skkls", 253)
	sup := critest.StartSupervised(t, dir)
	critest.ImportTestImages(t, sup.Config().SocketPath(), "pause.tar", "busybox.tar", "testserver.tar")
	return critest.Runtime(t, sup, dir)
}

// runTestPod runs realPod with two containers: busybox, which logs
// "started", then "tick" every 200ms until /stop exists, and "stopping"
// on its way out; and the testserver.
func runTestPod(ctx context.Context, t *testing.T, rt *cri.Runtime) {
	t.Helper()
	sc := &agent.SandboxConfig{PodUID: realPod.UID, PodName: realPod.Name, PodNamespace: realPod.Namespace, Hostname: realPod.Name}
	sb, err := rt.RunPodSandbox(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range []*agent.ContainerConfig{
		{Name: "busybox", Image: images.BusyboxRef, Command: []string{"sh", "-c",
			"echo started; while [ ! -e /stop ]; do echo tick; sleep 0.2; done; echo stopping"}},
		{Name: "server", Image: images.TestServerRef},
	} {
		// Imported, not pulled: no registry serves skiff.local.
		ref, ok, err := rt.ImageStatus(ctx, cc.Image)
		if err != nil || !ok {
			t.Fatalf("image %s: present %v, %v", cc.Image, ok, err)
		}
		cc.ImageRef = ref
		id, err := rt.CreateContainer(ctx, sb, cc)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// restConfig is the API server's side: the cluster CA's system:masters
// certificate, trusting the server's self-signed one.
func restConfig(t *testing.T, c *kubeletserver.TestCluster) *rest.Config {
	t.Helper()
	certPEM, keyPEM, err := c.CA().ClientCert("kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	serving := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.ServingCertDER()})
	return &rest.Config{Host: c.URL(), TLSClientConfig: rest.TLSClientConfig{CertData: certPEM, KeyData: keyPEM, CAData: serving}}
}

// execIn runs cmd in the test pod's container over SPDY, with stdin when
// given, and returns its stdout.
func execIn(ctx context.Context, rc *rest.Config, base, container, stdin string, cmd ...string) (string, error) {
	// As the API server sends them (corev1.ExecStdoutParam and friends).
	q := url.Values{"command": cmd, "output": {"1"}, "error": {"1"}}
	if stdin != "" {
		q.Set("input", "1")
	}
	u, err := url.Parse(base + "/exec/ns/web/" + container + "?" + q.Encode())
	if err != nil {
		return "", err
	}
	ex, err := remotecommand.NewSPDYExecutor(rc, "POST", u)
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	opts := remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}
	if stdin != "" {
		opts.Stdin = strings.NewReader(stdin)
	}
	err = ex.StreamWithContext(ctx, opts)
	return stdout.String(), err
}

// checkPortForward forwards a local port to the testserver's 8080 and
// fetches its echo through it.
func checkPortForward(ctx context.Context, t *testing.T, rc *rest.Config, base string) {
	transport, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base + "/portForward/ns/web")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	stop, ready := make(chan struct{}), make(chan struct{})
	var out, errOut bytes.Buffer
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("ForwardPorts: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		done <- nil
		t.Fatalf("port forward failed: %v (%s)", err, errOut.String())
	case <-ctx.Done():
		t.Fatal("port forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("ports %v, %v", ports, err)
	}
	// The testserver starts alongside busybox: retry while it is not yet
	// listening (the forwarded connection then closes early).
	var body []byte
	for ctx.Err() == nil {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(string(body), `"hostname":"web"`) {
		t.Errorf("testserver echo through the port forward = %q, want the pod name in it", body)
	}
}

// checkFollowUntilExit follows busybox's log, makes it exit through an
// exec, and expects its last line and the end of the stream: the follow
// ends because the container did.
func checkFollowUntilExit(ctx context.Context, t *testing.T, c *kubeletserver.TestCluster, rc *rest.Config) {
	client, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", c.URL()+"/containerLogs/ns/web/busybox?follow=true&timestamps=true", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("logs: %d %s", resp.StatusCode, body)
	}
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || !strings.HasSuffix(lines.Text(), " started") {
		t.Fatalf("first line %q, %v", lines.Text(), lines.Err())
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Fields(lines.Text())[0]); err != nil {
		t.Errorf("line %q has no timestamp: %v", lines.Text(), err)
	}
	// Written after the request: only a follower sees it.
	if _, err := execIn(ctx, rc, c.URL(), "busybox", "", "touch", "/stop"); err != nil {
		t.Fatal(err)
	}
	var last string
	for lines.Scan() {
		if last == "stopping" {
			t.Errorf("line %q after the last", lines.Text())
		}
		last = strings.SplitN(lines.Text(), " ", 2)[1]
	}
	if err := lines.Err(); err != nil || last != "stopping" {
		t.Errorf("last line %q, %v; want stopping and the end", last, err)
	}
	_, err = execIn(ctx, rc, c.URL(), "busybox", "", "true")
	if err == nil || !strings.Contains(err.Error(), "is not running") {
		t.Errorf("exec in the exited container: %v, want 'is not running'", err)
	}
}

// checkAttach attaches to busybox's output and waits for a tick.
func checkAttach(ctx context.Context, t *testing.T, rc *rest.Config, base string) {
	u, _ := url.Parse(base + "/attach/ns/web/busybox?stdout=1&stderr=1")
	ex, err := remotecommand.NewSPDYExecutor(rc, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &tickWriter{ticked: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: out, Stderr: out}) }()
	select {
	case <-out.ticked:
	case err := <-done:
		t.Fatalf("attach ended before a tick: %v", err)
	}
	cancel()
	<-done
}

// tickWriter closes ticked once "tick" has been written to it.
type tickWriter struct {
	mu     sync.Mutex
	buf    strings.Builder
	ticked chan struct{}
}

func (w *tickWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), "tick")
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), "tick") {
		close(w.ticked)
	}
	return len(p), nil
}
