package kubeletserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-sh/skiff/internal/agent"
	"github.com/skiff-sh/skiff/internal/pki"
)

// fakeRuntime lists fixed containers; as a Streamer it serves log files
// and refuses streams with a gRPC error.
type fakeRuntime struct {
	containers []agent.ContainerStatus
	logs       map[string]string // container ID -> path
}

func (f *fakeRuntime) ListContainers(_ context.Context, filter agent.ContainerFilter) ([]agent.ContainerStatus, error) {
	var out []agent.ContainerStatus
	for _, c := range f.containers {
		if c.PodUID == filter.PodUID {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeRuntime) ListPodSandboxes(context.Context, agent.SandboxFilter) ([]agent.SandboxStatus, error) {
	return nil, nil
}

// simulatedRuntime has no streaming, like the simulated runtime.
type simulatedRuntime struct{ fakeRuntime }

type streamingRuntime struct{ *fakeRuntime }

func (streamingRuntime) Exec(context.Context, *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return nil, status.Error(codes.FailedPrecondition, "container is not running")
}

func (streamingRuntime) Attach(context.Context, *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return nil, errors.New("not implemented")
}

func (streamingRuntime) PortForward(context.Context, *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return nil, errors.New("not implemented")
}

func (s streamingRuntime) ContainerLog(_ context.Context, id string) (string, agent.ContainerState, error) {
	path, ok := s.logs[id]
	if !ok {
		return "", "", status.Error(codes.NotFound, "no such container")
	}
	return path, agent.ContainerExited, nil
}

var testPod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-1"},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "side"}}},
}

// lookupPod finds pod alone, as the agent's PodByName would.
func lookupPod(pod *corev1.Pod) func(ns, name string) (*corev1.Pod, bool) {
	return func(ns, name string) (*corev1.Pod, bool) {
		if ns == pod.Namespace && name == pod.Name {
			return pod, true
		}
		return nil, false
	}
}

// testCluster is a CA with client certificates, and a server using it.
type testCluster struct {
	ca     *pki.Bundle
	server *Server
	url    string
}

func startTestServer(t *testing.T, rt Runtime, pod *corev1.Pod) *testCluster {
	t.Helper()
	ca, err := pki.Ensure(t.TempDir(), pki.Options{BindAddress: "127.0.0.1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Pods: lookupPod(pod), Runtime: rt, ClientCAs: ca.CAPool, Hosts: []string{"127.0.0.1"},
		Log: slog.New(slog.DiscardHandler), LogPollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testCluster{ca: ca, server: s, url: "https://" + ln.Addr().String()}
}

// client returns an HTTPS client presenting a certificate for cn in orgs
// issued by ca (none when ca is nil), trusting the server's certificate.
func (c *testCluster) client(t *testing.T, ca *pki.Bundle, cn string, orgs ...string) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(c.server.cfg.ServingCert.Leaf)
	cfg := &tls.Config{RootCAs: roots}
	if ca != nil {
		certPEM, keyPEM, err := ca.ClientCert(cn, orgs)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestAuthentication(t *testing.T) {
	c := startTestServer(t, &simulatedRuntime{}, testPod)
	other, err := pki.Ensure(t.TempDir(), pki.Options{BindAddress: "127.0.0.1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	url := c.url + "/containerLogs/ns/missing/app"
	for _, tc := range []struct {
		name   string
		client *http.Client
		code   int
		body   string
	}{
		{"no certificate", c.client(t, nil, ""), http.StatusUnauthorized, "Unauthorized"},
		{"another CA", c.client(t, other, "skiff-admin", "system:masters"), http.StatusUnauthorized, "Unauthorized"},
		{"not a master", c.client(t, c.ca, "system:node:n1", "system:nodes"), http.StatusForbidden, "user=system:node:n1, verb=get, resource=nodes, subresource(s)=[proxy]"},
		// Through to the handler, which does not know the pod.
		{"API server", c.client(t, c.ca, "kube-apiserver", "system:masters"), http.StatusNotFound, `pod "missing" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.client, url)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
}

func TestSimulatedRuntimeRefuses(t *testing.T) {
	c := startTestServer(t, &simulatedRuntime{}, testPod)
	client := c.client(t, c.ca, "kube-apiserver", "system:masters")
	for _, path := range []string{"/containerLogs/ns/web/app", "/exec/ns/web/app?command=ls&output=1", "/portForward/ns/web"} {
		code, body := get(t, client, c.url+path)
		if code != http.StatusBadRequest || !strings.Contains(body, "not supported by this node's container runtime") {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

func TestLogsHandler(t *testing.T) {
	rt := &fakeRuntime{
		containers: []agent.ContainerStatus{
			{ID: "c0", PodUID: "uid-1", Name: "app", Attempt: 0, State: agent.ContainerExited},
			{ID: "c1", PodUID: "uid-1", Name: "app", Attempt: 1, State: agent.ContainerExited},
			{ID: "c2", PodUID: "uid-1", Name: "app", Attempt: 2, State: agent.ContainerCreated},
			{ID: "s0", PodUID: "uid-1", Name: "side", Attempt: 0, State: agent.ContainerCreated},
		},
		logs: map[string]string{
			"c0": writeLog(t, "2026-11-27T10:00:00Z stdout F attempt 0\n"),
			"c1": writeLog(t, "2026-11-27T10:00:00Z stdout F attempt 1\n2026-11-27T10:00:01Z stderr F bye\n"),
		},
	}
	c := startTestServer(t, streamingRuntime{rt}, testPod)
	client := c.client(t, c.ca, "kube-apiserver", "system:masters")
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		// c2 never started: the newest run is c1.
		{"/containerLogs/ns/web/app", 200, "attempt 1\nbye\n"},
		{"/containerLogs/ns/web/app?previous=true", 200, "attempt 0\n"},
		{"/containerLogs/ns/web/app?tailLines=1&timestamps=true", 200, "2026-11-27T10:00:01Z bye\n"},
		{"/containerLogs/ns/web/app?follow=true", 200, "attempt 1\nbye\n"}, // exited: ends
		{"/containerLogs/ns/web/side", 400, `container "side" in pod "web" is waiting to start`},
		{"/containerLogs/ns/web/nope", 404, `container "nope" not found in pod "web"`},
		{"/containerLogs/ns/gone/app", 404, `pod "gone" does not exist`},
		{"/containerLogs/ns/web/app?tailLines=-1", 422, "tailLines"},
		{"/exec/ns/web/app?command=ls&output=1", 400, `container "app" in pod "web" is not running`},
		{"/exec/ns/web/app?command=ls", 400, "at least 1 of stdin, stdout, stderr"},
	} {
		code, body := get(t, client, c.url+tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}

func TestClientCAsFromRESTConfig(t *testing.T) {
	ca, err := pki.Ensure(t.TempDir(), pki.Options{BindAddress: "127.0.0.1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.ClientCert("kube-apiserver", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]*rest.Config{
		"data": {TLSClientConfig: rest.TLSClientConfig{CAData: ca.CAPEM()}},
		"file": {TLSClientConfig: rest.TLSClientConfig{CAFile: ca.Paths.CACert}},
	} {
		pool, err := ClientCAsFromRESTConfig(rc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: client certificate not verified: %v", name, err)
		}
	}
	if _, err := ClientCAsFromRESTConfig(&rest.Config{}); err == nil {
		t.Error("no CA accepted")
	}
}

func TestParseStreamOptions(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  streamOptions
		bad   bool
	}{
		{query: "input=1&output=1&error=1", want: streamOptions{stdin: true, stdout: true, stderr: true}},
		{query: "stdin=true&stdout=true&stderr=true", want: streamOptions{stdin: true, stdout: true, stderr: true}},
		// A terminal has no separate stderr.
		{query: "input=1&output=1&error=1&tty=1", want: streamOptions{stdin: true, stdout: true, tty: true}},
		{query: "output=0", bad: true},
		{query: "tty=1", bad: true},
	} {
		q, _ := url.ParseQuery(tc.query)
		got, err := parseStreamOptions(q)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%s = %+v, %v", tc.query, got, err)
		}
	}
}

func TestParsePorts(t *testing.T) {
	got, err := parsePorts([]string{"8080,9000", "53"})
	if err != nil || len(got) != 3 || got[0] != 8080 || got[1] != 9000 || got[2] != 53 {
		t.Errorf("ports = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "65536", "http", "80,"} {
		if _, err := parsePorts([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProfilingForTheAPIServerOnly(t *testing.T) {
	c := startTestServer(t, &simulatedRuntime{}, testPod)
	url := c.url + "/debug/pprof/goroutine?debug=1"
	if code, _ := get(t, c.client(t, nil, ""), url); code != http.StatusUnauthorized {
		t.Errorf("without a certificate: %d, want 401", code)
	}
	code, body := get(t, c.client(t, c.ca, "kube-apiserver", "system:masters"), url)
	if code != http.StatusOK || !strings.HasPrefix(body, "goroutine profile: total") {
		t.Errorf("API server: %d %.80q, want a goroutine profile", code, body)
	}
}
