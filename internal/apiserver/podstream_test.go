package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/pki"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// streamEnv is a server with one node whose agent is a fakeKubelet, and
// pods in every state the streaming subresources care about.
type streamEnv struct {
	s   *servertest.Server
	k   *fakeKubelet
	ctx context.Context
}

func setupStreams(t *testing.T) *streamEnv {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	ctx := ctxT(t)
	k := startFakeKubelet(t, s.Config.TLSClientConfig.CAData)
	port := int32(k.srv.Listener.Addr().(*net.TCPAddr).Port)
	nodes := s.Client.CoreV1().Nodes()
	for name, addrs := range map[string][]corev1.NodeAddress{
		"n1":        {{Type: corev1.NodeHostName, Address: "n1.invalid"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		"n-no-addr": nil,
	} {
		n, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Addresses = addrs
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
		if _, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pods := map[string]struct {
		node       string
		containers []string
	}{
		"one":     {"n1", []string{"c"}},
		"two":     {"n1", []string{"a", "b"}},
		"broken":  {"n1", []string{"broken"}},
		"unbound": {"", []string{"c"}},
		"lost":    {"n-no-addr", []string{"c"}},
		"orphan":  {"ghost", []string{"c"}},
	}
	for name, p := range pods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: p.node}}
		for _, c := range p.containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "i"})
		}
		if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return &streamEnv{s: s, k: k, ctx: ctx}
}

func TestPodLogsFollowStreamsThroughAgent(t *testing.T) {
	e := setupStreams(t)
	hc, err := rest.HTTPClientFor(e.s.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet,
		e.s.Config.Host+"/api/v1/namespaces/default/pods/one/log?follow=true&tailLines=5&timestamps=1&insecureSkipTLSVerifyBackend=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	// The agent holds line 2 back until release is closed: reading line 1
	// proves the API server flushes as data arrives.
	line, err := br.ReadString('\n')
	if err != nil || line != "line 1\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(e.k.release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "line 2\n" {
		t.Fatalf("rest of stream %q, %v", rest, err)
	}
	got, _ := e.k.last("/containerLogs/")
	want := kubeletRequest{Method: "GET", Path: "/containerLogs/default/one/c", Query: "follow=true&tailLines=5&timestamps=true", ClientCN: pki.KubeletClientUser}
	if got != want {
		t.Errorf("agent saw %+v, want %+v", got, want)
	}

	// Without follow, through client-go, naming one of two containers.
	body, err := e.s.Client.CoreV1().Pods("default").GetLogs("two", &corev1.PodLogOptions{Container: "b", SinceSeconds: ptr.To[int64](30)}).DoRaw(e.ctx)
	if err != nil || string(body) != "line 1\n" {
		t.Fatalf("logs of two/b: %q, %v", body, err)
	}
	if got, _ := e.k.last("/containerLogs/"); got.Path != "/containerLogs/default/two/b" || got.Query != "sinceSeconds=30" {
		t.Errorf("agent saw %+v", got)
	}

	// Every option reaches the agent in upstream's normalised form.
	since := metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	opts := &corev1.PodLogOptions{Previous: true, SinceTime: &since, LimitBytes: ptr.To[int64](10), Stream: ptr.To(corev1.LogStreamStderr)}
	if _, err := e.s.Client.CoreV1().Pods("default").GetLogs("one", opts).DoRaw(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.k.last("/containerLogs/"); got.Query != "limitBytes=10&previous=true&sinceTime=2026-01-02T02%3A04%3A05Z&stream=Stderr" {
		t.Errorf("agent saw query %q", got.Query)
	}
}

func TestPodLogErrors(t *testing.T) {
	e := setupStreams(t)
	pods := e.s.Client.CoreV1().Pods("default")
	cases := []struct {
		pod  string
		opts corev1.PodLogOptions
		code int32
		msg  string
	}{
		{"two", corev1.PodLogOptions{}, 400, "a container name must be specified for pod two, choose one of: [a b]"},
		{"one", corev1.PodLogOptions{Container: "nope"}, 400, "container nope is not valid for pod one"},
		{"missing", corev1.PodLogOptions{}, 404, `pods "missing" not found`},
		{"one", corev1.PodLogOptions{TailLines: ptr.To[int64](-1)}, 422, "tailLines: Invalid value: -1: must be greater than or equal to 0"},
		{"broken", corev1.PodLogOptions{}, 400, "container broken is waiting to start: ContainerCreating"},
		{"orphan", corev1.PodLogOptions{}, 404, `nodes "ghost" not found`},
	}
	// Stream, as kubectl logs uses, decodes the Status of a failure (DoRaw
	// would not).
	for _, c := range cases {
		body, err := pods.GetLogs(c.pod, &c.opts).Stream(e.ctx)
		if err == nil {
			body.Close()
		}
		var st apierrors.APIStatus
		if !errors.As(err, &st) || st.Status().Code != c.code || !strings.Contains(st.Status().Message, c.msg) {
			t.Errorf("logs %s %+v: got %v, want %d %q", c.pod, c.opts, err, c.code, c.msg)
		}
	}
	// An unscheduled pod has no logs yet: upstream answers an empty stream.
	stream, err := pods.GetLogs("unbound", &corev1.PodLogOptions{}).Stream(e.ctx)
	if err != nil {
		t.Fatalf("logs of unbound pod: %v", err)
	}
	defer stream.Close()
	if body, err := io.ReadAll(stream); err != nil || len(body) != 0 {
		t.Errorf("logs of unbound pod: %q, %v", body, err)
	}
}

func TestPodExecAttachErrors(t *testing.T) {
	e := setupStreams(t)
	cases := []struct {
		pod, sub string
		params   url.Values
		code     int32
		msg      string
	}{
		{"unbound", "exec", url.Values{"command": {"ls"}, "stdout": {"true"}}, 400, "pod unbound does not have a host assigned"},
		{"unbound", "portforward", nil, 400, "pod unbound does not have a host assigned"},
		{"two", "exec", url.Values{"command": {"ls"}}, 400, "a container name must be specified for pod two, choose one of: [a b]"},
		{"two", "attach", url.Values{"container": {"z"}}, 400, "container z is not valid for pod two"},
		{"missing", "exec", nil, 404, `pods "missing" not found`},
		{"lost", "exec", url.Values{"command": {"ls"}}, 500, `node "n-no-addr" reports no address`},
		{"orphan", "attach", nil, 404, `nodes "ghost" not found`},
		{"one", "portforward", url.Values{"ports": {"0"}}, 400, "invalid port"},
		// A plain request where an upgrade is needed.
		{"one", "exec", url.Values{"command": {"ls"}}, 400, "Upgrade request required"},
	}
	for _, c := range cases {
		req := e.s.Client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name(c.pod).SubResource(c.sub)
		for k, vs := range c.params {
			for _, v := range vs {
				req = req.Param(k, v)
			}
		}
		err := req.Do(e.ctx).Error()
		var st apierrors.APIStatus
		if !errors.As(err, &st) || st.Status().Code != c.code || !strings.Contains(st.Status().Message, c.msg) {
			t.Errorf("%s %s %v: got %v, want %d %q", c.sub, c.pod, c.params, err, c.code, c.msg)
		}
	}
}

func TestPodExecOverSPDYAndWebSocket(t *testing.T) {
	e := setupStreams(t)
	// A bearer token authenticates to the API server only: it must not
	// reach the agent.
	cfg := rest.CopyConfig(e.s.Config)
	cfg.BearerToken = "for-the-api-server-only"
	executors := map[string]func(u *url.URL) (remotecommand.Executor, error){
		"spdy": func(u *url.URL) (remotecommand.Executor, error) { return remotecommand.NewSPDYExecutor(cfg, "POST", u) },
		"websocket": func(u *url.URL) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
		},
	}
	for name, newExec := range executors {
		t.Run(name, func(t *testing.T) {
			u := e.execURL("one", "exec", &corev1.PodExecOptions{Command: []string{"cat", "-"}, Stdin: true, Stdout: true, Stderr: true})
			ex, err := newExec(u)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			err = ex.StreamWithContext(e.ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello through the agent\n"), Stdout: &stdout, Stderr: &stderr})
			if err != nil {
				t.Fatalf("exec: %v", err)
			}
			if stdout.String() != "hello through the agent\n" || stderr.String() != "command=cat -" {
				t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
			}
			got, _ := e.k.last("/exec/")
			want := kubeletRequest{Method: "POST", Path: "/exec/default/one/c", Query: "command=cat&command=-&error=1&input=1&output=1", ClientCN: pki.KubeletClientUser}
			// The WebSocket is translated to SPDY, which is POSTed.
			if got != want {
				t.Errorf("agent saw %+v, want %+v", got, want)
			}

			// A non-zero exit code comes back as such.
			u = e.execURL("one", "exec", &corev1.PodExecOptions{Command: []string{"fail"}, Stdout: true})
			if ex, err = newExec(u); err != nil {
				t.Fatal(err)
			}
			err = ex.StreamWithContext(e.ctx, remotecommand.StreamOptions{Stdout: io.Discard})
			var exitErr exec.CodeExitError
			if !errors.As(err, &exitErr) || exitErr.Code != 3 {
				t.Errorf("exec fail: %v, want exit code 3", err)
			}
		})
	}
}

func TestPodAttachOverSPDY(t *testing.T) {
	e := setupStreams(t)
	u := e.execURL("two", "attach", &corev1.PodAttachOptions{Container: "b", Stdin: true, Stdout: true})
	ex, err := remotecommand.NewSPDYExecutor(e.s.Config, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := ex.StreamWithContext(e.ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("attached"), Stdout: &stdout}); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "attached" {
		t.Errorf("stdout %q", stdout.String())
	}
	if got, _ := e.k.last("/attach/"); got.Path != "/attach/default/two/b" || got.Query != "input=1&output=1" {
		t.Errorf("agent saw %+v", got)
	}
}

func TestPodPortForwardOverSPDYAndWebSocket(t *testing.T) {
	e := setupStreams(t)
	u := e.s.Client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name("one").SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(e.s.Config)
	if err != nil {
		t.Fatal(err)
	}
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, e.s.Config)
	if err != nil {
		t.Fatal(err)
	}
	dialers := map[string]httpstream.Dialer{
		"spdy":      spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u),
		"websocket": tunnel,
	}
	for name, d := range dialers {
		t.Run(name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			fw, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{":8080"}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			defer func() {
				close(stop)
				<-done
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("port-forward ended: %v", err)
			}
			ports, err := fw.GetPorts()
			if err != nil || len(ports) != 1 || ports[0].Remote != 8080 {
				t.Fatalf("ports %v, %v", ports, err)
			}
			conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo %q, %v", buf, err)
			}
			if got, _ := e.k.last("/portForward/"); got.Path != "/portForward/default/one" || got.ClientCN != pki.KubeletClientUser {
				t.Errorf("agent saw %+v", got)
			}
		})
	}
}

// execURL is the API URL of pods/exec or pods/attach with opts as query.
func (e *streamEnv) execURL(pod, sub string, opts runtime.Object) *url.URL {
	return e.s.Client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name(pod).SubResource(sub).
		VersionedParams(opts, scheme.ParameterCodec).URL()
}

func TestNodeProxyReachesAgent(t *testing.T) {
	e := setupStreams(t)
	body, err := e.s.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/n1/proxy/healthz").Param("verbose", "1").DoRaw(e.ctx)
	if err != nil || string(body) != "ok" {
		t.Fatalf("nodes/n1/proxy/healthz: %q, %v", body, err)
	}
	got, _ := e.k.last("/healthz")
	if want := (kubeletRequest{Method: "GET", Path: "/healthz", Query: "verbose=1", ClientCN: pki.KubeletClientUser}); got != want {
		t.Errorf("agent saw %+v, want %+v", got, want)
	}
	err = e.s.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/n-no-addr/proxy/healthz").Do(e.ctx).Error()
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "no address") {
		t.Errorf("node without address: %v", err)
	}
}
