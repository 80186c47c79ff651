package apiserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// fakeKubelet plays a node agent's streaming endpoints over TLS, requiring
// a client certificate from the cluster CA, and records what it was asked.
//
//	/containerLogs/...  writes "line 1\n", flushes, and writes "line 2\n"
//	                    only once release is closed
//	/exec/..., /attach/ SPDY (v4.channel.k8s.io): stdin echoed to stdout,
//	                    the command written to stderr; command "fail"
//	                    exits 3
//	/portForward/...    SPDY (portforward.k8s.io): every data stream is
//	                    echoed back
//	/healthz            "ok"
type fakeKubelet struct {
	srv     *httptest.Server
	release chan struct{}

	mu       sync.Mutex
	requests []kubeletRequest
	// pfErrors holds port-forward error streams by request ID until the
	// pair's data stream is done.
	pfErrors map[string]httpstream.Stream
}

type kubeletRequest struct {
	Method, Path, Query, ClientCN string
	Authorization                 string
}

func startFakeKubelet(t *testing.T, caPEM []byte) *fakeKubelet {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate in the kubeconfig")
	}
	k := &fakeKubelet{release: make(chan struct{}), pfErrors: map[string]httpstream.Stream{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", k.serveLogs)
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", k.serveExec)
	mux.HandleFunc("/attach/{ns}/{pod}/{container}", k.serveExec)
	mux.HandleFunc("/portForward/{ns}/{pod}", k.servePortForward)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	k.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.record(r)
		mux.ServeHTTP(w, r)
	}))
	k.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	k.srv.StartTLS()
	t.Cleanup(k.srv.Close)
	return k
}

func (k *fakeKubelet) record(r *http.Request) {
	req := kubeletRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Authorization: r.Header.Get("Authorization")}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		req.ClientCN = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	k.mu.Lock()
	k.requests = append(k.requests, req)
	k.mu.Unlock()
}

// last returns the most recent request to a path starting with prefix.
func (k *fakeKubelet) last(prefix string) (kubeletRequest, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.requests) - 1; i >= 0; i-- {
		if strings.HasPrefix(k.requests[i].Path, prefix) {
			return k.requests[i], true
		}
	}
	return kubeletRequest{}, false
}

func (k *fakeKubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("container") == "broken" {
		http.Error(w, "container broken is waiting to start: ContainerCreating", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "line 1\n")
	if r.URL.Query().Get("follow") != "true" {
		return
	}
	_ = http.NewResponseController(w).Flush()
	select {
	case <-k.release:
		_, _ = io.WriteString(w, "line 2\n")
	case <-r.Context().Done():
	}
}

// acceptStreams upgrades to SPDY with one of protocols and collects want
// streams, keyed by their streamType header.
func acceptStreams(w http.ResponseWriter, r *http.Request, protocols []string, want int) (httpstream.Connection, map[string]httpstream.Stream, bool) {
	if _, err := httpstream.Handshake(r, w, protocols); err != nil {
		return nil, nil, false
	}
	ch := make(chan httpstream.Stream, 16)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, _ <-chan struct{}) error {
		ch <- s
		return nil
	})
	if conn == nil {
		return nil, nil, false
	}
	streams := map[string]httpstream.Stream{}
	for len(streams) < want {
		select {
		case s := <-ch:
			streams[s.Headers().Get(corev1.StreamType)] = s
		case <-conn.CloseChan():
			return nil, nil, false
		}
	}
	return conn, streams, true
}

func (k *fakeKubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	want := 1 // the error stream
	for _, p := range []string{corev1.ExecStdinParam, corev1.ExecStdoutParam, corev1.ExecStderrParam} {
		if q.Get(p) == "1" {
			want++
		}
	}
	conn, streams, ok := acceptStreams(w, r, []string{"v4.channel.k8s.io"}, want)
	if !ok {
		return
	}
	defer conn.Close()
	if in, out := streams[corev1.StreamTypeStdin], streams[corev1.StreamTypeStdout]; in != nil && out != nil {
		_, _ = io.Copy(out, in)
	}
	if e := streams[corev1.StreamTypeStderr]; e != nil {
		_, _ = fmt.Fprintf(e, "command=%s", strings.Join(q["command"], " "))
	}
	for _, s := range streams {
		if s != streams[corev1.StreamTypeError] {
			_ = s.Close()
		}
	}
	errStream := streams[corev1.StreamTypeError]
	if len(q["command"]) > 0 && q["command"][0] == "fail" {
		st := metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode", Message: "command terminated with non-zero exit code",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: "3"}}}}
		_ = json.NewEncoder(errStream).Encode(st)
	}
	_ = errStream.Close()
	<-conn.CloseChan()
}

// servePortForward echoes every data stream until the client closes its
// side, then closes the pair's error stream.
func (k *fakeKubelet) servePortForward(w http.ResponseWriter, r *http.Request) {
	if _, err := httpstream.Handshake(r, w, []string{"portforward.k8s.io"}); err != nil {
		return
	}
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, _ <-chan struct{}) error {
		// The client opens a pair's error stream before its data stream,
		// and this handler runs in that order.
		if s.Headers().Get(corev1.StreamType) == corev1.StreamTypeError {
			k.mu.Lock()
			k.pfErrors[s.Headers().Get(corev1.PortForwardRequestIDHeader)] = s
			k.mu.Unlock()
			return nil
		}
		go k.echoPortForward(s)
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	<-conn.CloseChan()
}

func (k *fakeKubelet) echoPortForward(s httpstream.Stream) {
	_, _ = io.Copy(s, s)
	_ = s.Close()
	id := s.Headers().Get(corev1.PortForwardRequestIDHeader)
	k.mu.Lock()
	e := k.pfErrors[id]
	delete(k.pfErrors, id)
	k.mu.Unlock()
	if e != nil {
		_ = e.Close()
	}
}
