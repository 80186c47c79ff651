package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T, cfg config) (*httptest.Server, chan int) {
	t.Helper()
	exited := make(chan int, 1)
	srv := httptest.NewServer(newServer(cfg, func(c int) { exited <- c }).handler())
	t.Cleanup(srv.Close)
	return srv, exited
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEchoReportsPod(t *testing.T) {
	srv, _ := startServer(t, config{podName: "web-0", podIP: "10.0.0.7"})
	code, body := do(t, "GET", srv.URL+"/some/path?x=1")
	var got echoResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("%d %q: %v", code, body, err)
	}
	if got.Pod != "web-0" || got.IP != "10.0.0.7" || got.Path != "/some/path" || got.Query != "x=1" || got.Method != "GET" {
		t.Errorf("echo = %+v", got)
	}
}

func TestProbesToggle(t *testing.T) {
	srv, _ := startServer(t, config{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := do(t, "GET", srv.URL+p); code != 200 {
			t.Errorf("%s starts at %d, want 200", p, code)
		}
		if code, _ := do(t, "POST", srv.URL+p+"?fail=1"); code != 500 {
			t.Errorf("POST %s?fail=1: %d", p, code)
		}
		if code, _ := do(t, "GET", srv.URL+p); code != 500 {
			t.Errorf("%s after fail=1: %d, want 500", p, code)
		}
		if code, _ := do(t, "POST", srv.URL+p+"?fail=0"); code != 200 {
			t.Errorf("POST %s?fail=0: %d", p, code)
		}
		if code, _ := do(t, "POST", srv.URL+p+"?fail=maybe"); code != 400 {
			t.Errorf("bad fail value: %d, want 400", code)
		}
	}
	// The two probes are independent.
	do(t, "POST", srv.URL+"/readyz?fail=1")
	if code, _ := do(t, "GET", srv.URL+"/healthz"); code != 200 {
		t.Errorf("healthz follows readyz: %d", code)
	}
}

func TestErrorRateAndLatency(t *testing.T) {
	srv, _ := startServer(t, config{errorRate: 1, latency: 100 * time.Millisecond})
	start := time.Now()
	code, body := do(t, "GET", srv.URL+"/")
	if code != 500 || !strings.Contains(body, "injected") {
		t.Errorf("error rate 1: %d %q", code, body)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered after %v, want >= latency 100ms", d)
	}
	// Probes are not subject to injected errors: only the workload is.
	if code, _ := do(t, "GET", srv.URL+"/healthz"); code != 200 {
		t.Errorf("healthz with error rate 1: %d", code)
	}
}

func TestExit(t *testing.T) {
	srv, exited := startServer(t, config{})
	if code, _ := do(t, "GET", srv.URL+"/exit?code=300"); code != 400 {
		t.Errorf("code=300: %d, want 400", code)
	}
	if code, body := do(t, "GET", srv.URL+"/exit?code=3"); code != 200 || !strings.Contains(body, "code 3") {
		t.Fatalf("%d %q", code, body)
	}
	select {
	case c := <-exited:
		if c != 3 {
			t.Errorf("exit code %d, want 3", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no exit")
	}
}

func TestAlloc(t *testing.T) {
	srv, _ := startServer(t, config{})
	do(t, "GET", srv.URL+"/alloc?mb=2")
	code, body := do(t, "GET", srv.URL+"/alloc?mb=3")
	var got map[string]int
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("%d %q", code, body)
	}
	if got["heldMB"] != 5 || got["allocatedMB"] != 3 {
		t.Errorf("alloc = %v, want 3 allocated, 5 held", got)
	}
	if code, _ := do(t, "GET", srv.URL+"/alloc?mb=-1"); code != 400 {
		t.Errorf("mb=-1: %d", code)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hi there"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _ := startServer(t, config{filesDir: dir})
	if code, body := do(t, "GET", srv.URL+"/files/hello.txt"); code != 200 || body != "hi there" {
		t.Errorf("%d %q", code, body)
	}
	if code, _ := do(t, "GET", srv.URL+"/files/missing"); code != 404 {
		t.Errorf("missing file: %d", code)
	}
}

func TestTCPEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveTCPEcho(ctx, ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("ping\n"))
	buf := make([]byte, 5)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping\n" {
		t.Errorf("echo %q, %v", buf, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serveTCPEcho: %v", err)
	}
}

// TestGracefulShutdown: a request in flight when SIGTERM arrives (ctx
// cancelled) still gets its answer, and run returns cleanly.
func TestGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // run listens itself; the port is free again
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := options{httpAddr: addr, exitCode: -1, shutdownTimeout: 5 * time.Second}
	go func() { done <- run(ctx, o, func(int) {}) }()
	var resp *http.Response
	inflight := make(chan error, 1)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		} else if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	go func() {
		var err error
		resp, err = http.Get("http://" + addr + "/sleep?d=300ms")
		inflight <- err
	}()
	time.Sleep(100 * time.Millisecond) // the request is now being served
	cancel()
	if err := <-inflight; err != nil {
		t.Fatalf("in-flight request failed during shutdown: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "slept") {
		t.Errorf("in-flight answer: %d %q", resp.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}

func TestParseFlagsFromEnv(t *testing.T) {
	env := map[string]string{"POD_NAME": "p", "LATENCY": "250ms", "ERROR_RATE": "0.5", "EXIT_CODE": "7"}
	o, err := parseFlags([]string{"-exit-after", "1s"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.podName != "p" || o.cfg.latency != 250*time.Millisecond || o.cfg.errorRate != 0.5 || o.exitCode != 7 || o.exitAfter != time.Second {
		t.Errorf("options = %+v", o)
	}
	// A flag overrides the environment.
	if o, _ := parseFlags([]string{"-pod-name", "q"}, func(k string) string { return env[k] }); o.cfg.podName != "q" {
		t.Errorf("flag did not override env: %q", o.cfg.podName)
	}
	for _, bad := range [][]string{{"-error-rate", "2"}, {"-exit-code", "256"}, {"-latency", "soon"}} {
		if _, err := parseFlags(bad, func(string) string { return "" }); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
