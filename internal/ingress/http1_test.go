package ingress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// framingBackend serves the paths the HTTP/1 tests need.
func framingBackend(t *testing.T, release <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "second\n")
		case "/body":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %q %q", len(b), b, r.TransferEncoding)
		case "/trailer":
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "data")
			w.Header().Set("X-Checksum", "abc")
		case "/headers":
			fmt.Fprintf(w, "hop=%q custom=%q te=%q ua=%q", r.Header.Get("Keep-Alive"), r.Header.Get("X-Custom"), r.Header.Get("Te"), r.Header.Get("User-Agent"))
		case "/big":
			w.Header().Set("Content-Length", "100000")
			io.WriteString(w, strings.Repeat("x", 100000))
		default:
			io.WriteString(w, "ok "+r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func startFraming(t *testing.T, backend *httptest.Server) (*env, string) {
	objects := []runtime.Object{
		service("web", svcPort("http", 80)),
		ingressOf("web", rule("a.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", port80))),
	}
	objects = append(objects, objs(endpointSlices("web", "http", sliceEP{portOf(backend.Listener.Addr().String()), true}))...)
	e := startEnv(t, objects...)
	eventually(t, "Ingress served", func() bool {
		code, _ := get(t, http.DefaultClient, "http://"+e.ctrl.HTTPAddr()+"/", "a.example.com")
		return code == http.StatusOK
	})
	return e, e.ctrl.HTTPAddr()
}

// rawConn sends raw HTTP/1 bytes and reads responses with net/http's
// parser.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) read(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// TestHTTP1StreamsResponses checks that a response the backend flushes
// in parts reaches the client in parts, not when it ends.
func TestHTTP1StreamsResponses(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	_, addr := startFraming(t, framingBackend(t, release))
	t.Cleanup(unblock) // before the backend's Close, which waits for the handler
	rc := dialRaw(t, addr)
	rc.send("GET /stream HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TransferEncoding == nil || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("unknown-length body to an HTTP/1.1 client: transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first part before the backend finished: %q, %v", line, err)
	}
	unblock()
	rest, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(rest), "second\n") {
		t.Errorf("rest of the stream: %q", rest)
	}
}

// TestHTTP1RequestBodies sends a chunked body and a body behind
// "Expect: 100-continue", on one keep-alive connection.
func TestHTTP1RequestBodies(t *testing.T) {
	_, addr := startFraming(t, framingBackend(t, nil))
	rc := dialRaw(t, addr)
	rc.send("POST /body HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != `11 "hello world" ["chunked"]` {
		t.Errorf("chunked body: %d %s", resp.StatusCode, body)
	}
	rc.send("POST /body HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n")
	interim, err := http.ReadResponse(rc.br, nil)
	if err != nil || interim.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue before sending the body, got %v, %v", interim, err)
	}
	rc.send("payload")
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != `7 "payload" []` {
		t.Errorf("body after 100-continue: %d %s", resp.StatusCode, body)
	}
}

// TestHTTP1Framing covers how responses are framed for the client and
// what is forwarded.
func TestHTTP1Framing(t *testing.T) {
	_, addr := startFraming(t, framingBackend(t, nil))

	t.Run("pipelined requests answered in order", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /one HTTP/1.1\r\nHost: a.example.com\r\n\r\nGET /two HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
		for _, want := range []string{"ok /one", "ok /two"} {
			if _, body := rc.read("GET"); body != want {
				t.Errorf("got %q, want %q", body, want)
			}
		}
	})
	t.Run("HEAD keeps the length, sends no body", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("HEAD /big HTTP/1.1\r\nHost: a.example.com\r\n\r\nGET /after HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
		resp, _ := rc.read("HEAD")
		if resp.ContentLength != 100000 {
			t.Errorf("HEAD Content-Length %d, want 100000", resp.ContentLength)
		}
		if _, body := rc.read("GET"); body != "ok /after" {
			t.Errorf("request after HEAD: %q (a body was sent after all?)", body)
		}
	})
	t.Run("large body arrives whole", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /big HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
		if _, body := rc.read("GET"); len(body) != 100000 {
			t.Errorf("body of %d bytes, want 100000", len(body))
		}
	})
	t.Run("HTTP/1.0 client gets no chunking and a close", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /trailer HTTP/1.0\r\nHost: a.example.com\r\n\r\n")
		resp, body := rc.read("GET")
		if len(resp.TransferEncoding) != 0 || body != "data" || !resp.Close {
			t.Errorf("HTTP/1.0: transfer encoding %v, body %q, close %v", resp.TransferEncoding, body, resp.Close)
		}
	})
	t.Run("trailers pass through", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /trailer HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
		resp, body := rc.read("GET")
		if body != "data" || resp.Trailer.Get("X-Checksum") != "abc" {
			t.Errorf("body %q, trailer %v", body, resp.Trailer)
		}
	})
	t.Run("hop-by-hop headers dropped", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /headers HTTP/1.1\r\nHost: a.example.com\r\nConnection: keep-alive, X-Custom\r\nKeep-Alive: timeout=5\r\nX-Custom: secret\r\nTE: trailers, deflate\r\n\r\n")
		if _, body := rc.read("GET"); body != `hop="" custom="" te="trailers" ua=""` {
			t.Errorf("backend saw %s", body)
		}
	})
	t.Run("malformed requests", func(t *testing.T) {
		for raw, want := range map[string]int{
			"GET / HTTP/1.1\r\n\r\n": http.StatusBadRequest,
			"GET / HTTP/1.1\r\nHost: a.example.com\r\nX-Big: " + strings.Repeat("y", 1<<20+8<<10) + "\r\n\r\n": http.StatusRequestHeaderFieldsTooLarge,
			"GET / HTTP/1.1\r\nHost: a.example.com\r\nExpect: magic\r\n\r\n":                                   http.StatusExpectationFailed,
			"NONSENSE\r\n\r\n": http.StatusBadRequest,
		} {
			rc := dialRaw(t, addr)
			go rc.send(raw) // the proxy may answer before reading all of it
			resp, _ := rc.read("GET")
			if resp.StatusCode != want {
				t.Errorf("%.40q: status %d, want %d", raw, resp.StatusCode, want)
			}
		}
	})
}

// TestStaleUpstreamConnection has the backend close every idle
// connection: the next request, a GET or a POST with a body, must not
// fail on the closed one.
func TestStaleUpstreamConnection(t *testing.T) {
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	backend.Config.IdleTimeout = 50 * time.Millisecond
	backend.Start()
	t.Cleanup(backend.Close)
	_, addr := startFraming(t, backend)
	rc := dialRaw(t, addr)
	for i := range 4 {
		time.Sleep(150 * time.Millisecond) // the backend closes the proxy's idle connection
		if i%2 == 0 {
			rc.send("GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "GET " {
				t.Errorf("GET after idle close: %d %q", resp.StatusCode, body)
			}
		} else {
			rc.send("POST / HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 4\r\n\r\ndata")
			if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != "POST data" {
				t.Errorf("POST after idle close: %d %q", resp.StatusCode, body)
			}
		}
	}
}

// TestShutdownDrains stops the controller while one request is in flight
// and another connection is idle: the idle one is closed, new connections
// are refused, and the request in flight still gets its whole response.
func TestShutdownDrains(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "done "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	t.Cleanup(unblock) // runs before the backend's Close
	e, addr := startFraming(t, backend)

	idle := dialRaw(t, addr)
	idle.send("GET /warm HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	if _, body := idle.read("GET"); body != "done /warm" {
		t.Fatalf("warm-up: %q", body)
	}
	busy := dialRaw(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- e.stop() }()
	// The idle connection is closed without a response.
	if _, err := idle.br.ReadByte(); err == nil {
		t.Error("idle keep-alive connection got data after shutdown began; want it closed")
	}
	eventually(t, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	default:
	}
	unblock()
	resp, body := busy.read("GET")
	if resp.StatusCode != http.StatusOK || body != "done /slow" {
		t.Errorf("request in flight during shutdown: %d %q", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Error("response during shutdown did not say Connection: close")
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
}
