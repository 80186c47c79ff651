package action

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// serve starts an HTTP server on loopback and returns the target and port
// to reach it with.
func serve(t *testing.T, h http.HandlerFunc) (Target, int) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return targetOf(t, srv.URL)
}

func targetOf(t *testing.T, raw string) (Target, int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return Target{PodIP: u.Hostname(), Container: &corev1.Container{Name: "app"}}, port
}

func TestHTTPGetStatusCodes(t *testing.T) {
	code := http.StatusOK
	tg, port := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code); _, _ = w.Write([]byte("body")) })
	a := &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port))}
	for _, tc := range []struct {
		code int
		want Result
	}{{200, Success}, {204, Success}, {399, Warning}, {400, Failure}, {500, Failure}} {
		code = tc.code
		got, out := HTTPGet(context.Background(), a, tg, time.Second)
		if got != tc.want {
			t.Errorf("status %d: result %v (%q), want %v", tc.code, got, out, tc.want)
		}
		if tc.want == Failure && !strings.Contains(out, "statuscode: "+strconv.Itoa(tc.code)) {
			t.Errorf("status %d: output %q does not name the code", tc.code, out)
		}
	}
}

// TestHTTPGetRequest checks what the probe sends: path with query, the
// kubelet's default headers, custom headers and a Host override, and a
// port given by name.
func TestHTTPGetRequest(t *testing.T) {
	var got *http.Request
	tg, port := serve(t, func(w http.ResponseWriter, r *http.Request) { got = r })
	tg.Container.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}
	a := &corev1.HTTPGetAction{Path: "ready?x=1", Port: intstr.FromString("http"), HTTPHeaders: []corev1.HTTPHeader{
		{Name: "X-Custom", Value: "v"}, {Name: "host", Value: "example.test"},
	}}
	if res, out := HTTPGet(context.Background(), a, tg, time.Second); res != Success {
		t.Fatalf("result %v: %s", res, out)
	}
	if got.URL.Path != "/ready" || got.URL.RawQuery != "x=1" || got.Host != "example.test" ||
		got.Header.Get("X-Custom") != "v" || got.Header.Get("User-Agent") != userAgent || got.Header.Get("Accept") != "*/*" {
		t.Errorf("request: path %q query %q host %q headers %v", got.URL.Path, got.URL.RawQuery, got.Host, got.Header)
	}
	a.HTTPHeaders = []corev1.HTTPHeader{{Name: "User-Agent", Value: "mine"}}
	if res, _ := HTTPGet(context.Background(), a, tg, time.Second); res != Success || got.Header.Get("User-Agent") != "mine" {
		t.Errorf("User-Agent %q, want the pod's own", got.Header.Get("User-Agent"))
	}
	a.Port = intstr.FromString("nope")
	if res, _ := HTTPGet(context.Background(), a, tg, time.Second); res != Unknown {
		t.Errorf("unknown port name: result %v, want unknown", res)
	}
}

// TestHTTPGetRedirects: same-host redirects are followed; one to another
// host is not, and passes with a warning.
func TestHTTPGetRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	tg, port := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/local":
			http.Redirect(w, r, "/bad", http.StatusFound)
		case "/remote":
			http.Redirect(w, r, otherURL+"/", http.StatusFound)
		case "/bad":
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	a := &corev1.HTTPGetAction{Path: "/local", Port: intstr.FromInt32(int32(port))}
	if res, _ := HTTPGet(context.Background(), a, tg, time.Second); res != Failure {
		t.Errorf("same-host redirect to a 503: result %v, want failure (redirect followed)", res)
	}
	a.Path = "/remote"
	if res, out := HTTPGet(context.Background(), a, tg, time.Second); res != Warning || !strings.Contains(out, "redirects") {
		t.Errorf("redirect to another host: result %v (%q), want a warning", res, out)
	}
}

func TestHTTPGetTLSAndRefused(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	tg, port := targetOf(t, srv.URL)
	a := &corev1.HTTPGetAction{Scheme: corev1.URISchemeHTTPS, Port: intstr.FromInt32(int32(port))}
	if res, out := HTTPGet(context.Background(), a, tg, time.Second); res != Success {
		t.Errorf("https with a self-signed certificate: %v %s", res, out)
	}
	a.Port = intstr.FromInt32(int32(closedPort(t)))
	if res, _ := HTTPGet(context.Background(), a, tg, time.Second); res != Failure {
		t.Errorf("refused connection: %v, want failure", res)
	}
	if err := HTTPGetHook(context.Background(), a, tg); err == nil {
		t.Error("hook to a refused port succeeded")
	}
}

// TestHTTPGetHookIgnoresStatus: a hook fails only when nothing answers.
func TestHTTPGetHookIgnoresStatus(t *testing.T) {
	called := false
	tg, port := serve(t, func(w http.ResponseWriter, r *http.Request) { called = true; w.WriteHeader(500) })
	if err := HTTPGetHook(context.Background(), &corev1.HTTPGetAction{Path: "/stop", Port: intstr.FromInt32(int32(port))}, tg); err != nil || !called {
		t.Errorf("hook answered 500: err %v, called %v; want nil, true", err, called)
	}
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestTCPSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tg := Target{PodIP: "127.0.0.1", Container: &corev1.Container{}}
	a := &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(l.Addr().(*net.TCPAddr).Port))}
	if res, out := TCPSocket(context.Background(), a, tg, time.Second); res != Success {
		t.Errorf("open port: %v %s", res, out)
	}
	a.Port = intstr.FromInt32(int32(closedPort(t)))
	if res, _ := TCPSocket(context.Background(), a, tg, time.Second); res != Failure {
		t.Errorf("closed port: %v, want failure", res)
	}
}

type fakeExecer struct {
	code int32
	out  string
	err  error
	got  []string
	id   string
}

func (f *fakeExecer) ExecSync(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, []byte, int32, error) {
	f.got, f.id = cmd, id
	return []byte(f.out), nil, f.code, f.err
}

func TestExec(t *testing.T) {
	tg := Target{ContainerID: "c1"}
	e := &fakeExecer{out: "fine"}
	if res, out := Exec(context.Background(), e, []string{"cat", "/ok"}, tg, time.Second); res != Success || out != "fine" || e.id != "c1" || e.got[1] != "/ok" {
		t.Errorf("exit 0: %v %q (ran %v in %s)", res, out, e.got, e.id)
	}
	e.code, e.out = 1, "no such file"
	if res, out := Exec(context.Background(), e, []string{"cat"}, tg, time.Second); res != Failure || !strings.Contains(out, "no such file") {
		t.Errorf("exit 1: %v %q, want failure with the output", res, out)
	}
	e.err = errors.New("container not found")
	if res, _ := Exec(context.Background(), e, []string{"cat"}, tg, time.Second); res != Unknown {
		t.Errorf("runtime error: %v, want unknown", res)
	}
	e.err = context.DeadlineExceeded
	if res, _ := Exec(context.Background(), e, []string{"cat"}, tg, time.Second); res != Failure {
		t.Errorf("timeout: %v, want failure", res)
	}
	if res, _ := Exec(context.Background(), nil, []string{"cat"}, tg, time.Second); res != Unknown {
		t.Errorf("no execer: %v, want unknown", res)
	}
	e.err, e.code = nil, 2
	if err := ExecHook(context.Background(), e, []string{"stop"}, tg); err == nil {
		t.Error("hook exiting 2 did not fail")
	}
}

func TestGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	tg := Target{PodIP: "127.0.0.1"}
	a := &corev1.GRPCAction{Port: int32(l.Addr().(*net.TCPAddr).Port)}
	if res, out := GRPC(context.Background(), a, tg, 5*time.Second); res != Success {
		t.Errorf("overall health: %v %s", res, out)
	}
	a.Service = ptr.To("db")
	if res, out := GRPC(context.Background(), a, tg, 5*time.Second); res != Failure || !strings.Contains(out, "NOT_SERVING") {
		t.Errorf("NOT_SERVING service: %v %q", res, out)
	}
	a.Service = ptr.To("unknown")
	if res, _ := GRPC(context.Background(), a, tg, 5*time.Second); res != Failure {
		t.Errorf("unknown service: %v, want failure", res)
	}
}
