package ingress

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// testCert makes a self-signed certificate for hosts, returning the
// Secret holding it and a pool trusting it.
func testCert(t *testing.T, name string, hosts ...string) (*corev1.Secret, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}, pool
}

// TestTLSWithSNIAndHTTP2 terminates TLS with the certificate of the
// Secret whose Ingress TLS hosts name the SNI host, negotiates HTTP/2,
// and falls back to the default certificate for other names.
func TestTLSWithSNIAndHTTP2(t *testing.T) {
	web := newEchoBackend(t, "web")
	secret, pool := testCert(t, "a-tls", "a.example.com")
	ing := ingressOf("secure", rule("a.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", port80)))
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "a-tls"}}
	objects := []runtime.Object{service("web", svcPort("http", 80)), ing, secret}
	objects = append(objects, objs(endpointSlices("web", "http", sliceEP{web.port(), true}))...)
	e := startEnv(t, objects...)
	url := "https://" + e.ctrl.HTTPSAddr() + "/hello"

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example.com"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var resp *http.Response
	eventually(t, "TLS Ingress served with its certificate", func() bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = "a.example.com"
		r, err := c.Do(req)
		if err != nil {
			return false
		}
		if r.StatusCode != http.StatusOK {
			r.Body.Close()
			return false
		}
		resp = r
		return true
	})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "web /hello" || resp.ProtoMajor != 2 {
		t.Errorf("got %s %q, want HTTP/2 and %q", resp.Proto, body, "web /hello")
	}
	web.mu.Lock()
	proto := web.last.Get("X-Forwarded-Proto")
	web.mu.Unlock()
	if proto != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want https", proto)
	}

	// A renewed certificate in the same Secret is served without restart.
	renewed, renewedPool := testCert(t, "a-tls", "a.example.com")
	if _, err := e.client.CoreV1().Secrets(ns).Update(context.Background(), renewed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "renewed certificate served", func() bool {
		c, err := tls.Dial("tcp", e.ctrl.HTTPSAddr(), &tls.Config{ServerName: "a.example.com", RootCAs: renewedPool})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})

	conn, err := tls.Dial("tcp", e.ctrl.HTTPSAddr(), &tls.Config{ServerName: "other.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to an unknown name: %v", err)
	}
	defer conn.Close()
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "Skiff Ingress Default Certificate" {
		t.Errorf("unknown SNI name served certificate %q, want the default", cn)
	}
}

// TestForwardedHeaders checks what the backend learns about the client;
// a client-supplied X-Forwarded-For is not trusted.
func TestForwardedHeaders(t *testing.T) {
	web := newEchoBackend(t, "web")
	objects := []runtime.Object{
		service("web", svcPort("http", 80)),
		ingressOf("plain", rule("a.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", portHTTP))),
	}
	objects = append(objects, objs(endpointSlices("web", "http", sliceEP{web.port(), true}))...)
	e := startEnv(t, objects...)
	url := "http://" + e.ctrl.HTTPAddr() + "/x"
	eventually(t, "Ingress served", func() bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = "a.example.com:8080"
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	web.mu.Lock()
	h, host := web.last, web.host
	web.mu.Unlock()
	_, port, _ := net.SplitHostPort(e.ctrl.HTTPAddr())
	want := map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Proto": "http",
		"X-Forwarded-Host": "a.example.com:8080", "X-Forwarded-Port": port,
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if host != "a.example.com:8080" {
		t.Errorf("backend saw Host %q, want the client's", host)
	}
}

// TestWebSocketUpgrade passes an Upgrade through and echoes bytes over
// the spliced connection, as a WebSocket would.
func TestWebSocketUpgrade(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client closes
	}))
	t.Cleanup(ws.Close)
	objects := []runtime.Object{
		service("ws", svcPort("http", 80)),
		ingressOf("ws", rule("ws.example.com", pathOf("/", networkingv1.PathTypePrefix, "ws", port80))),
	}
	objects = append(objects, objs(endpointSlices("ws", "http", sliceEP{portOf(ws.Listener.Addr().String()), true}))...)
	e := startEnv(t, objects...)

	var conn net.Conn
	var br *bufio.Reader
	eventually(t, "upgrade answered with 101", func() bool {
		c, err := net.Dial("tcp", e.ctrl.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		r := bufio.NewReader(c)
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			c.Close()
			return false
		}
		conn, br = c, r
		return true
	})
	defer conn.Close()
	for _, msg := range []string{"hello\n", "again\n"} {
		io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo: got %q, %v; want %q", got, err, msg)
		}
	}
}

// TestRefusedEndpointSkipped lists an endpoint nobody listens on next to
// a live one: no request fails, POSTs with bodies included, because a
// refused connection is retried on another endpoint.
func TestRefusedEndpointSkipped(t *testing.T) {
	live := newEchoBackend(t, "live")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := portOf(ln.Addr().String())
	ln.Close() // nothing listens there now: connections are refused
	objects := []runtime.Object{
		service("web", svcPort("http", 80)),
		ingressOf("web", rule("a.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", port80))),
	}
	objects = append(objects, objs(endpointSlices("web", "http", sliceEP{deadPort, true}, sliceEP{live.port(), true}))...)
	e := startEnv(t, objects...)
	url := "http://" + e.ctrl.HTTPAddr()
	eventually(t, "both endpoints in the table", func() bool { return backendEndpoints(e, "web") == 2 })
	for i := range 20 {
		method := http.MethodGet
		var body io.Reader
		if i%2 == 1 {
			method, body = http.MethodPost, strings.NewReader("payload")
		}
		req, _ := http.NewRequest(method, url+"/r", body)
		req.Host = "a.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d (%s): status %d", i, method, resp.StatusCode)
		}
	}
	if live.hits.Load() != 20 {
		t.Errorf("live endpoint served %d of 20", live.hits.Load())
	}
}

// backendEndpoints counts the endpoints the current table balances over
// for svc.
func backendEndpoints(e *env, svc string) int {
	t := e.ctrl.table.Load()
	if t == nil || len(t.backends[ns+"/"+svc]) == 0 {
		return -1
	}
	set := t.backends[ns+"/"+svc][0].eps.Load()
	if set == nil {
		return -1
	}
	return len(set.list)
}

// TestRemovedEndpointDrained removes an endpoint while it serves a slow
// request: the request finishes, new requests go elsewhere, and the
// proxy closes its keep-alive connections to the removed endpoint.
func TestRemovedEndpointDrained(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{})
	old := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "old")
	}))
	open := make(chan struct{}, 100)
	old.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open <- struct{}{}
		case http.StateClosed, http.StateHijacked:
			<-open
		}
	}
	old.Start()
	t.Cleanup(old.Close)
	replacement := newEchoBackend(t, "new")
	objects := []runtime.Object{
		service("web", svcPort("http", 80)),
		ingressOf("web", rule("a.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", port80))),
	}
	objects = append(objects, objs(endpointSlices("web", "http", sliceEP{portOf(old.Listener.Addr().String()), true}))...)
	e := startEnv(t, objects...)
	url := "http://" + e.ctrl.HTTPAddr()
	eventually(t, "old endpoint served", func() bool {
		code, body := get(t, http.DefaultClient, url+"/warm", "a.example.com")
		return code == http.StatusOK && body == "old"
	})

	slow := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, url+"/slow", nil)
		req.Host = "a.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		slow <- string(body)
	}()
	<-entered

	ctx := context.Background()
	for _, s := range endpointSlices("web", "http", sliceEP{replacement.port(), true}) {
		if _, err := e.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	oldSlice := endpointSlices("web", "http", sliceEP{portOf(old.Listener.Addr().String()), false})[0]
	if _, err := e.client.DiscoveryV1().EndpointSlices(ns).Update(ctx, oldSlice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "old endpoint out of rotation", func() bool {
		code, body := get(t, http.DefaultClient, url+"/probe", "a.example.com")
		return code == http.StatusOK && body == "new /probe"
	})
	before := replacement.hits.Load()
	for range 10 {
		if code, body := get(t, http.DefaultClient, url+"/after", "a.example.com"); code != http.StatusOK || body != "new /after" {
			t.Fatalf("after removal: %d %q", code, body)
		}
	}
	if replacement.hits.Load()-before != 10 {
		t.Errorf("replacement served %d of 10", replacement.hits.Load()-before)
	}
	close(release)
	if body := <-slow; body != "old" {
		t.Errorf("in-flight request to the removed endpoint: got %q, want it to finish with %q", body, "old")
	}
	eventually(t, "keep-alive connections to the removed endpoint closed", func() bool { return len(open) == 0 })
}

// TestResetEndpointRetriesIdempotent lists an endpoint that reads the
// request and resets the connection: GETs are retried on the live
// endpoint, while a POST with a body, which may have reached the
// application, is not replayed.
func TestResetEndpointRetriesIdempotent(t *testing.T) {
	live := newEchoBackend(t, "live")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			c.(*net.TCPConn).SetLinger(0) // close with RST
			c.Close()
		}
	}()
	objects := []runtime.Object{
		service("web", svcPort("http", 80)),
		ingressOf("web", rule("a.example.com", pathOf("/", networkingv1.PathTypePrefix, "web", port80))),
	}
	objects = append(objects, objs(endpointSlices("web", "http", sliceEP{portOf(ln.Addr().String()), true}, sliceEP{live.port(), true}))...)
	e := startEnv(t, objects...)
	url := "http://" + e.ctrl.HTTPAddr()
	eventually(t, "both endpoints in the table", func() bool { return backendEndpoints(e, "web") == 2 })
	for i := range 10 {
		if code, body := get(t, http.DefaultClient, url+"/r", "a.example.com"); code != http.StatusOK || body != "live /r" {
			t.Fatalf("GET %d: %d %q", i, code, body)
		}
	}
	// Round robin sent at least one GET to the resetting endpoint, which
	// failed there and was retried.
	tab := e.ctrl.table.Load()
	resetting := 0
	for _, ep := range tab.backends[ns+"/web"][0].eps.Load().list {
		if ep.addr != live.srv.Listener.Addr().String() {
			resetting = int(ep.failures.Load())
		}
	}
	if resetting == 0 {
		t.Errorf("no GET reached the resetting endpoint; the test proves nothing")
	}
	// Now make the proxy prefer the resetting endpoint (eject the live
	// one), so the POST meets the reset.
	for _, ep := range tab.backends[ns+"/web"][0].eps.Load().list {
		ep.ejectedUntil.Store(0)
		if ep.addr == live.srv.Listener.Addr().String() {
			ep.ejectedUntil.Store(time.Now().Add(time.Hour).UnixNano())
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/p", strings.NewReader("payload"))
	req.Host = "a.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("POST to a resetting endpoint: got %d, want 502 (not replayed)", resp.StatusCode)
	}
}
