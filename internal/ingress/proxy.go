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

// h2Handler serves requests that arrived over HTTP/2 (TLS with ALPN h2)
// through net/http's server and ReverseProxy; HTTP/1.x connections are
// served by serveHTTP1 instead. Both route with the same table and reach
// endpoints through the same upstream connections.
type h2Handler struct {
	c    *Controller
	port string
	rp   *httputil.ReverseProxy
}

func newH2Handler(c *Controller, port string) *h2Handler {
	h := &h2Handler{c: c, port: port}
	h.rp = &httputil.ReverseProxy{
		Rewrite:      h.rewrite,
		Transport:    balancer{},
		BufferPool:   bufferPool{},
		ErrorHandler: h.proxyError,
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	return h
}

func (h *h2Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, status, msg := h.c.route(r.Host, r.URL.Path)
	if b == nil {
		http.Error(w, msg, status)
		return
	}
	h.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, b)))
}

// route finds the backend of a request, or the status and message to
// answer with when there is none.
func (c *Controller) route(host, path string) (*backend, int, string) {
	t := c.table.Load()
	if t == nil {
		return nil, http.StatusServiceUnavailable, "ingress routing table not ready"
	}
	b, ok := t.route(requestHost(host), path)
	if !ok {
		return nil, http.StatusNotFound, "404 page not found (no Ingress rule matches and no default backend)"
	}
	return b, 0, ""
}

// rewrite prepares the upstream request. Rewrite (unlike Director) has
// already stripped client-supplied X-Forwarded-* headers. The URL host is
// never dialled: the balancer picks the endpoint.
func (h *h2Handler) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "endpoint.invalid"
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	}
	setForwarded(pr.Out.Header, pr.In.RemoteAddr, pr.In.Host, proto, h.port)
}

// setForwarded tells the backend who the client is: X-Forwarded-For/-Host/
// -Proto/-Port and X-Real-IP. Values a client sent are replaced, not
// appended to, so a client cannot spoof its address (ingress-nginx's
// default without use-forwarded-headers). The Host header itself is
// passed through unchanged because backends route on it too.
func setForwarded(h http.Header, remoteAddr, host, proto, port string) {
	h.Del("Forwarded")
	ip, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		h.Del("X-Forwarded-For")
		h.Del("X-Real-Ip")
	} else {
		h.Set("X-Forwarded-For", ip)
		h.Set("X-Real-Ip", ip)
	}
	h.Set("X-Forwarded-Host", host)
	h.Set("X-Forwarded-Proto", proto)
	h.Set("X-Forwarded-Port", port)
}

func (h *h2Handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client left; nobody will read a status.
		return
	}
	status := errorStatus(err)
	klog.V(4).InfoS("Ingress proxy error", "host", r.Host, "path", r.URL.Path, "status", status, "err", err)
	w.WriteHeader(status)
}

// errorStatus is what the client is told when no endpoint answered: 503
// when there was none to try, 502 when the tried ones failed.
func errorStatus(err error) int {
	if errors.Is(err, errNoEndpoints) || errors.Is(err, errUnresolved) {
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// balancer is the ReverseProxy's Transport: the request's backend, put in
// its context by ServeHTTP, picks the endpoint.
type balancer struct{}

func (balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := req.Context().Value(backendKey{}).(*backend)
	if b == nil {
		return nil, errUnresolved
	}
	return b.roundTrip(req.Context(), req)
}

// roundTrip sends req to one of b's endpoints, and retries on another one
// when the failure makes that safe: the connection was never established
// (nothing was sent), or the method is idempotent and the request has no
// body to replay.
func (b *backend) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	if set := b.eps.Load(); set != nil && set.err != "" {
		return nil, errors.Join(errUnresolved, errors.New(set.err))
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody {
		// Writing a request closes its body, even when the write fails;
		// keep it open so a retry after a dial error can still send it.
		out := *req
		out.Body = noCloseBody{req.Body}
		req = &out
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
		resp, err := ep.roundTrip(ctx, req, hasBody)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil {
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

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

type noCloseBody struct{ io.Reader }

func (noCloseBody) Close() error { return nil }

// bufferPool recycles body copy buffers; without it each request
// allocates 32 KiB.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
