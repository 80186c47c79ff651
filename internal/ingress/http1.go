package ingress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"k8s.io/klog/v2"
)

// Limits of a client connection, net/http's defaults.
const (
	readHeaderTimeout = 30 * time.Second
	clientIdleTimeout = 2 * time.Minute
	// maxHeaderBytes bounds a request head; net/http allows 1 MiB plus
	// 4 KiB of slack for its read buffer.
	maxHeaderBytes = 1<<20 + 4<<10
)

// hopHeaders apply to one connection and are not forwarded (RFC 9110
// section 7.6.1), as ReverseProxy drops them.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// framingHeaders are written from the response's parsed framing, never
// copied.
var framingHeaders = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Trailer": true}

// h1conn is one client connection speaking HTTP/1.x. Its requests are
// read, routed and forwarded one after another by the goroutine that
// serves it, which also exchanges them with the endpoint; the parsing on
// both sides is net/http's (http.ReadRequest, Request.Write,
// http.ReadResponse), so framing and smuggling rules are the standard
// library's.
type h1conn struct {
	f      *frontend
	conn   net.Conn
	lr     io.LimitedReader
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	// idle is true while the connection waits for its next request;
	// shutdown closes idle connections and waits for the others.
	idle atomic.Bool
	// wmu orders an interim "100 Continue", written when the backend
	// starts reading the body, before the response.
	wmu        sync.Mutex
	responding bool
}

func (f *frontend) serveHTTP1(c net.Conn) {
	hc := &h1conn{f: f, conn: c, remote: c.RemoteAddr().String()}
	hc.lr.R = c
	hc.br = bufio.NewReaderSize(&hc.lr, 4<<10)
	hc.bw = bufio.NewWriterSize(c, 4<<10)
	if !f.track(hc) {
		_ = c.Close()
		return
	}
	defer f.forget(hc)
	for {
		// Idle first, then check: shutdown sets closing first, then
		// closes the idle, so one of the two sees the other.
		hc.idle.Store(true)
		if f.closing.Load() {
			return
		}
		hc.lr.N = maxHeaderBytes
		_ = c.SetReadDeadline(time.Now().Add(clientIdleTimeout))
		if _, err := hc.br.Peek(1); err != nil {
			return
		}
		hc.idle.Store(false)
		_ = c.SetReadDeadline(time.Now().Add(readHeaderTimeout))
		req, err := http.ReadRequest(hc.br)
		if err != nil {
			hc.rejectHead(err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		hc.lr.N = math.MaxInt64
		if !hc.serve(req) {
			return
		}
	}
}

// rejectHead answers a request head that could not be read, when the
// client is still there to hear it.
func (hc *h1conn) rejectHead(err error) {
	if hc.lr.N <= 0 { // the head did not fit in maxHeaderBytes
		hc.writeError(http.StatusRequestHeaderFieldsTooLarge, "", false)
		return
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
		return // the client left or stalled
	}
	hc.writeError(http.StatusBadRequest, "", false)
}

// serve forwards one request and reports whether the connection can
// carry another.
func (hc *h1conn) serve(req *http.Request) bool {
	keepAlive := !req.Close
	if status, msg := checkRequest(req); status != 0 {
		hc.writeError(status, msg, false)
		return false
	}
	b, status, msg := hc.f.c.route(req.Host, req.URL.Path)
	var body *clientBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &clientBody{hc: hc, rc: req.Body, expectContinue: hasExpectContinue(req)}
		req.Body = body
	}
	req.Header.Del("Expect")
	hc.wmu.Lock()
	hc.responding = false
	hc.wmu.Unlock()
	if b == nil {
		keepAlive = hc.writeError(status, msg, keepAlive && body == nil)
		return keepAlive
	}
	upgrade := upgradeType(req.Header)
	prepareOutbound(req, upgrade)
	setForwarded(req.Header, hc.remote, req.Host, hc.f.scheme, hc.f.port)

	resp, err := b.roundTrip(context.Background(), req)
	if err != nil {
		status := errorStatus(err)
		klog.V(4).InfoS("Ingress proxy error", "host", req.Host, "path", req.URL.Path, "status", status, "err", err)
		// A body no endpoint took is still on the connection: say it closes.
		keepAlive = hc.writeError(status, "", keepAlive && (body == nil || body.eof.Load()))
	} else if resp.StatusCode == http.StatusSwitchingProtocols {
		hc.switchProtocols(req, resp, upgrade)
		return false
	} else {
		// While shutting down, tell the client this connection ends here.
		keepAlive = hc.writeResponse(req, resp, keepAlive && !hc.f.closing.Load())
	}
	if body != nil && !body.finish() {
		return false // the body was not read to its end: the framing is lost
	}
	return keepAlive
}

// checkRequest rejects what net/http's server would, before any routing.
// (http.ReadRequest has already refused several Host headers and taken
// Host out of the header map.)
func checkRequest(req *http.Request) (int, string) {
	switch {
	case req.ProtoMajor != 1:
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	case req.Method == http.MethodConnect:
		return http.StatusMethodNotAllowed, "CONNECT is not proxied"
	case req.ProtoAtLeast(1, 1) && req.Host == "":
		return http.StatusBadRequest, "missing required Host header"
	case !httpguts.ValidHostHeader(req.Host):
		return http.StatusBadRequest, "malformed Host header"
	case req.Header.Get("Expect") != "" && !hasExpectContinue(req):
		return http.StatusExpectationFailed, "unsupported Expect"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return http.StatusBadRequest, "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return http.StatusBadRequest, "invalid header value"
			}
		}
	}
	return 0, ""
}

func hasExpectContinue(req *http.Request) bool {
	return httpguts.HeaderValuesContainsToken(req.Header["Expect"], "100-continue")
}

// upgradeType is the protocol a request asks to switch to, if any.
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// removeHopByHop drops the headers that describe one connection: those
// listed in Connection and the standard ones.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// prepareOutbound turns a client's request into the one the endpoint
// gets, as ReverseProxy does: hop-by-hop headers go (an upgrade and
// "TE: trailers" are kept), the connection to the endpoint stays open,
// and no default User-Agent is invented.
func prepareOutbound(req *http.Request, upgrade string) {
	trailers := httpguts.HeaderValuesContainsToken(req.Header["Te"], "trailers")
	removeHopByHop(req.Header)
	if trailers {
		req.Header.Set("Te", "trailers")
	}
	if upgrade != "" {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", upgrade)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""}
	}
	req.Close = false
	req.RequestURI = ""
}

// startResponse stops interim responses and writes the status line.
func (hc *h1conn) startResponse(status string) {
	hc.wmu.Lock()
	hc.responding = true
	hc.wmu.Unlock()
	hc.bw.WriteString("HTTP/1.1 ")
	hc.bw.WriteString(status)
	hc.bw.WriteString("\r\n")
}

// writeError answers with status and a short text body, and reports
// whether the connection stays open.
func (hc *h1conn) writeError(status int, msg string, keepAlive bool) bool {
	hc.startResponse(strconv.Itoa(status) + " " + http.StatusText(status))
	if msg != "" {
		msg += "\n"
		hc.bw.WriteString("Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n")
	}
	hc.bw.WriteString("Content-Length: " + strconv.Itoa(len(msg)) + "\r\n")
	if !keepAlive {
		hc.bw.WriteString("Connection: close\r\n")
	}
	hc.bw.WriteString("\r\n")
	hc.bw.WriteString(msg)
	return hc.bw.Flush() == nil && keepAlive
}

// writeResponse relays resp to the client, re-framing its body for this
// connection, and reports whether the connection stays open. Before each
// read that would wait on the endpoint the client is flushed, so a
// streamed response streams and a small one leaves in one write.
func (hc *h1conn) writeResponse(req *http.Request, resp *http.Response, keepAlive bool) bool {
	defer resp.Body.Close()
	removeHopByHop(resp.Header)
	status := resp.Status // http.ReadResponse's: the code, then the reason
	if status == "" {
		status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	bodyAllowed := req.Method != http.MethodHead && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified
	chunked := false
	hc.startResponse(status)
	switch {
	case resp.ContentLength >= 0 && (bodyAllowed || req.Method == http.MethodHead):
		hc.bw.WriteString("Content-Length: " + strconv.FormatInt(resp.ContentLength, 10) + "\r\n")
	case !bodyAllowed:
	case req.ProtoAtLeast(1, 1):
		chunked = true
		hc.bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(resp.Trailer) > 0 {
			keys := make([]string, 0, len(resp.Trailer))
			for k := range resp.Trailer {
				keys = append(keys, k)
			}
			hc.bw.WriteString("Trailer: " + strings.Join(keys, ", ") + "\r\n")
		}
	default:
		keepAlive = false // an HTTP/1.0 client learns the end from the close
	}
	if !keepAlive {
		hc.bw.WriteString("Connection: close\r\n")
	} else if !req.ProtoAtLeast(1, 1) {
		hc.bw.WriteString("Connection: keep-alive\r\n")
	}
	if err := resp.Header.WriteSubset(hc.bw, framingHeaders); err != nil {
		return false
	}
	hc.bw.WriteString("\r\n")
	if bodyAllowed {
		var dst io.Writer = hc.bw
		var cw io.WriteCloser
		if chunked {
			cw = httputil.NewChunkedWriter(hc.bw)
			dst = cw
		}
		if !hc.copyBody(dst, resp.Body) {
			return false
		}
		if chunked {
			_ = cw.Close()
			_ = resp.Trailer.Write(hc.bw)
			hc.bw.WriteString("\r\n")
		}
	}
	return hc.bw.Flush() == nil && keepAlive
}

// copyBody copies a response body to the client and reports whether it
// arrived whole; a body cut short leaves the client only a closed
// connection to learn it from.
func (hc *h1conn) copyBody(dst io.Writer, body io.Reader) bool {
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	buffered, _ := body.(interface{ Buffered() int })
	for {
		if buffered != nil && buffered.Buffered() == 0 && hc.bw.Buffered() > 0 {
			if hc.bw.Flush() != nil {
				return false
			}
		}
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return false
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// switchProtocols relays a 101 and then splices the two connections until
// either side ends, as ReverseProxy does for WebSockets. A 101 the client
// did not ask for is a broken backend: 502.
func (hc *h1conn) switchProtocols(req *http.Request, resp *http.Response, upgrade string) {
	up, ok := resp.Body.(*upgradedConn)
	if upgrade == "" || !ok || !strings.EqualFold(upgrade, resp.Header.Get("Upgrade")) {
		resp.Body.Close()
		hc.writeError(http.StatusBadGateway, "", false)
		return
	}
	defer up.Close()
	accepted := resp.Header.Get("Upgrade")
	removeHopByHop(resp.Header)
	resp.Header.Set("Connection", "Upgrade")
	resp.Header.Set("Upgrade", accepted)
	hc.startResponse("101 Switching Protocols")
	if resp.Header.Write(hc.bw) != nil {
		return
	}
	hc.bw.WriteString("\r\n")
	if hc.bw.Flush() != nil {
		return
	}
	hc.f.hijack(hc)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, hc.br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(hc.conn, up); done <- struct{}{} }()
	<-done
	_ = up.Close()
	_ = hc.conn.Close()
	<-done
}

// clientBody is a request body as the endpoint reads it. On the first
// read it tells a client waiting on "Expect: 100-continue" to go on, as
// net/http's server does, and it notes whether the body was read to its
// end, which the connection needs before it can carry another request.
type clientBody struct {
	hc             *h1conn
	rc             io.ReadCloser
	expectContinue bool
	eof            atomic.Bool
	// mu is held across a read, which may run on the upstream writer's
	// goroutine while the response is already being written.
	mu        sync.Mutex
	abandoned bool
}

var errBodyAbandoned = errors.New("request body abandoned after the response")

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.abandoned {
		return 0, errBodyAbandoned
	}
	if b.expectContinue {
		b.expectContinue = false
		b.hc.writeContinue()
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

func (b *clientBody) Close() error { return nil }

// finish reports whether the body was read to its end. When it was not,
// the connection is closed first, which ends a read still waiting on the
// client, so nothing reads the connection after this returns.
func (b *clientBody) finish() bool {
	if b.eof.Load() {
		return true
	}
	_ = b.hc.conn.Close()
	b.mu.Lock()
	b.abandoned = true
	b.mu.Unlock()
	return false
}

func (hc *h1conn) writeContinue() {
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	if hc.responding {
		return
	}
	hc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	_ = hc.bw.Flush()
}
