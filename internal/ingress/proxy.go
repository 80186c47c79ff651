package ingress

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// maxAttempts bounds how many endpoints one request tries.
const maxAttempts = 3

var (
	errNoEndpoints = errors.New("no ready endpoints")
	errUnresolved  = errors.New("backend does not resolve")
)

type backendKey struct{}

// proxy is the HTTP handler of one listener; scheme and port feed the
// X-Forwarded-Proto/-Port headers.
type proxy struct {
	c    *Controller
	port string
	rp   *httputil.ReverseProxy
}

func newProxy(c *Controller, port string) *proxy {
	p := &proxy{c: c, port: port}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    balancer{},
		BufferPool:   bufferPool{},
		ErrorHandler: p.proxyError,
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	return p
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := p.c.table.Load()
	if t == nil {
		http.Error(w, "ingress routing table not ready", http.StatusServiceUnavailable)
		return
	}
	b, ok := t.route(requestHost(r.Host), r.URL.Path)
	if !ok {
		http.Error(w, "404 page not found (no Ingress rule matches and no default backend)", http.StatusNotFound)
		return
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, b)))
}

// rewrite prepares the upstream request. Rewrite (unlike Director) has
// already stripped client-supplied X-Forwarded-* headers, so a client
// cannot spoof its address; the Host header is passed through unchanged
// because backends route on it too. The URL host is filled per attempt.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "endpoint.invalid"
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Forwarded-Port", p.port)
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		pr.Out.Header.Set("X-Real-IP", ip)
	}
}

func (p *proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client left; nobody will read a status.
		return
	}
	status := http.StatusBadGateway
	if errors.Is(err, errNoEndpoints) || errors.Is(err, errUnresolved) {
		status = http.StatusServiceUnavailable
	}
	klog.V(4).InfoS("Ingress proxy error", "host", r.Host, "path", r.URL.Path, "status", status, "err", err)
	w.WriteHeader(status)
}

// balancer is the ReverseProxy's Transport: it picks an endpoint of the
// request's backend, and retries on another one when the failure makes
// that safe: the connection was never established (nothing was sent),
// or the method is idempotent and the request has no body to replay.
type balancer struct{}

func (balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := req.Context().Value(backendKey{}).(*backend)
	if b == nil {
		return nil, errUnresolved
	}
	if set := b.eps.Load(); set != nil && set.err != "" {
		return nil, errors.Join(errUnresolved, errors.New(set.err))
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	body := req.Body
	if hasBody {
		// The Transport closes the body even when the dial fails; keep it
		// open so a retry after a dial error can still send it.
		body = noCloseBody{req.Body}
	}
	var triedBuf [maxAttempts]*endpoint
	tried := triedBuf[:0]
	var lastErr error
	for range maxAttempts {
		ep := b.pick(tried)
		if ep == nil {
			break
		}
		tried = append(tried, ep)
		resp, err := roundTripTo(ep, req, body)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if req.Context().Err() != nil {
			return nil, err // the client left; not the endpoint's fault
		}
		ep.markFailure(time.Now())
		var de *dialError
		if !errors.As(err, &de) && (hasBody || !idempotent(req.Method)) {
			break
		}
	}
	if lastErr == nil {
		return nil, errNoEndpoints
	}
	return nil, lastErr
}

// roundTripTo sends one attempt to ep and counts it in flight until the
// response body is closed, so draining knows when the endpoint is idle.
func roundTripTo(ep *endpoint, req *http.Request, body io.ReadCloser) (*http.Response, error) {
	out := *req
	u := *req.URL
	u.Host = ep.addr
	out.URL = &u
	out.Body = body
	ep.inflight.Add(1)
	resp, err := ep.transport.RoundTrip(&out)
	if err != nil {
		ep.inflight.Add(-1)
		return nil, err
	}
	ep.markSuccess()
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy needs the writable body to splice a WebSocket.
		resp.Body = &trackedConn{trackedBody: trackedBody{ReadCloser: resp.Body, ep: ep}, w: rwc}
	} else {
		resp.Body = &trackedBody{ReadCloser: resp.Body, ep: ep}
	}
	return resp, nil
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

type noCloseBody struct{ io.Reader }

func (noCloseBody) Close() error { return nil }

// trackedBody ends the endpoint's in-flight count exactly once.
type trackedBody struct {
	io.ReadCloser
	ep   *endpoint
	done atomic.Bool
}

func (t *trackedBody) Close() error {
	err := t.ReadCloser.Close()
	if t.done.CompareAndSwap(false, true) {
		t.ep.inflight.Add(-1)
		if t.ep.removed.Load() {
			// A request that picked the endpoint from a table replaced
			// just before may finish after the drain ended; its
			// connection reaches the idle pool shortly after Close.
			time.AfterFunc(drainTick, t.ep.transport.CloseIdleConnections)
		}
	}
	return err
}

type trackedConn struct {
	trackedBody
	w io.Writer
}

func (t *trackedConn) Write(p []byte) (int, error) { return t.w.Write(p) }

// bufferPool recycles ReverseProxy's copy buffers; without it each
// request allocates 32 KiB.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
