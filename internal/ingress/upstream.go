package ingress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The proxy's own client side: each endpoint keeps a stack of idle
// keep-alive connections, and a request is exchanged on one of them by the
// goroutine that serves the client, with no goroutine per connection and
// no hand-off between goroutines. That is most of what makes the L7 path
// cheaper than net/http's Transport, which reads and writes each upstream
// connection on goroutines of its own.
const (
	dialTimeout = 3 * time.Second
	// maxIdlePerEndpoint bounds the idle connections kept to one endpoint.
	maxIdlePerEndpoint = 256
	// upstreamIdleTimeout is how long an idle connection is trusted; past
	// it the backend may be closing it, so a fresh one is dialled.
	upstreamIdleTimeout = 60 * time.Second
)

// errNoResponse marks an exchange that got not one byte back. On a reused
// connection it usually means the backend had closed it while idle.
var errNoResponse = errors.New("connection closed before any response")

// upstreamConn is one connection to an endpoint.
type upstreamConn struct {
	ep        *endpoint
	conn      net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool
}

// getConn returns an idle connection to e, or dials one. With check, a
// reused connection is first peeked at so that one the backend has closed
// is not handed to a request that could not be replayed.
func (e *endpoint) getConn(ctx context.Context, check bool) (*upstreamConn, error) {
	now := time.Now()
	for {
		e.mu.Lock()
		n := len(e.idle)
		if n == 0 {
			e.mu.Unlock()
			break
		}
		uc := e.idle[n-1]
		e.idle[n-1] = nil
		e.idle = e.idle[:n-1]
		e.mu.Unlock()
		if now.Sub(uc.idleSince) > upstreamIdleTimeout || (check && !uc.alive()) {
			_ = uc.conn.Close()
			continue
		}
		uc.reused = true
		return uc, nil
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return nil, &dialError{err: err}
	}
	return &upstreamConn{ep: e, conn: c, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// alive reports whether an idle connection is still open: nothing may be
// readable on it, since no request is outstanding, so data or EOF both
// mean it cannot carry another request.
func (uc *upstreamConn) alive() bool {
	if uc.br.Buffered() > 0 {
		return false
	}
	sc, ok := uc.conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = rerr == unix.EAGAIN
		return true // never wait for readiness
	})
	return err == nil && alive
}

// putConn returns uc to the idle stack, or closes it when the endpoint has
// left (draining) or the stack is full. Connections at the bottom of the
// stack that have been idle too long are closed on the way: the stack is
// used from the top, so without that they would stay open, perhaps
// already closed by the backend, for as long as traffic keeps the top busy.
func (e *endpoint) putConn(uc *upstreamConn) {
	now := time.Now()
	uc.idleSince = now
	var stale []*upstreamConn
	e.mu.Lock()
	for len(e.idle) > 0 && now.Sub(e.idle[0].idleSince) > upstreamIdleTimeout {
		stale = append(stale, e.idle[0])
		e.idle[0] = nil
		e.idle = e.idle[1:]
	}
	if e.removed || len(e.idle) >= maxIdlePerEndpoint {
		stale = append(stale, uc)
	} else {
		e.idle = append(e.idle, uc)
	}
	e.mu.Unlock()
	for _, c := range stale {
		_ = c.conn.Close()
	}
}

// retire marks e as gone and closes its idle connections; connections in
// use are closed as their responses end, so requests in flight finish and
// no keep-alive connection to the departed pod is reused.
func (e *endpoint) retire() {
	e.mu.Lock()
	e.removed = true
	idle := e.idle
	e.idle = nil
	e.mu.Unlock()
	for _, uc := range idle {
		_ = uc.conn.Close()
	}
}

// roundTrip sends req to e. A reused connection that turns out to have
// been closed by the backend is replaced by a fresh one when the request
// is safe to send again, as net/http's Transport does.
func (e *endpoint) roundTrip(ctx context.Context, req *http.Request, hasBody bool) (*http.Response, error) {
	replayable := !hasBody && idempotent(req.Method)
	for {
		uc, err := e.getConn(ctx, !replayable)
		if err != nil {
			return nil, err
		}
		resp, err := uc.exchange(ctx, req, hasBody)
		if err == nil {
			e.markSuccess()
			return resp, nil
		}
		if uc.reused && replayable && errors.Is(err, errNoResponse) && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// exchange writes req on uc and reads the response head. The response
// body gives uc back to its endpoint once read to the end (or closes it).
// A request body is written on its own goroutine, since a backend may
// answer before reading all of it.
func (uc *upstreamConn) exchange(ctx context.Context, req *http.Request, hasBody bool) (*http.Response, error) {
	stop := func() bool { return true }
	if ctx.Done() != nil {
		// Net/http's server cancels the context when the client leaves;
		// unblock the exchange then.
		stop = context.AfterFunc(ctx, func() { _ = uc.conn.SetDeadline(time.Unix(1, 0)) })
	}
	var written chan error
	if hasBody {
		written = make(chan error, 1)
		go func() { written <- uc.writeRequest(req) }()
	} else if err := uc.writeRequest(req); err != nil {
		stop()
		_ = uc.conn.Close()
		return nil, err
	}
	resp, err := uc.readResponse(req)
	if err != nil {
		stop()
		_ = uc.conn.Close()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now belongs to the upgraded protocol; ReverseProxy
		// needs the body to be writable to splice it.
		resp.Body = &upgradedConn{uc: uc, stop: stop}
		return resp, nil
	}
	resp.Body = &upstreamBody{rc: resp.Body, uc: uc, written: written, stop: stop, reusable: !resp.Close}
	return resp, nil
}

func (uc *upstreamConn) writeRequest(req *http.Request) error {
	if err := req.Write(uc.bw); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	if err := uc.bw.Flush(); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	return nil
}

// readResponse reads the response head, skipping informational (1xx)
// responses other than 101: the client is not told of them.
func (uc *upstreamConn) readResponse(req *http.Request) (*http.Response, error) {
	if _, err := uc.br.Peek(1); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoResponse, err)
	}
	for {
		resp, err := http.ReadResponse(uc.br, req)
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// upstreamBody is a response body that decides, when it ends, whether its
// connection can carry another request.
type upstreamBody struct {
	rc       io.ReadCloser
	uc       *upstreamConn
	written  chan error
	stop     func() bool
	reusable bool
	done     bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

// Buffered is how many body bytes can be read without waiting on the
// backend; the HTTP/1 server flushes its client before a read that waits.
func (b *upstreamBody) Buffered() int { return b.uc.br.Buffered() }

func (b *upstreamBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *upstreamBody) finish(complete bool) {
	b.done = true
	reuse := complete && b.reusable && b.stop()
	if reuse && b.written != nil {
		select {
		case err := <-b.written:
			reuse = err == nil
		default:
			reuse = false // the backend answered before taking the whole body
		}
	}
	if reuse {
		b.uc.ep.putConn(b.uc)
		return
	}
	b.stop()
	_ = b.uc.conn.Close()
}

// upgradedConn is the connection after a 101 response, read through the
// bytes already buffered.
type upgradedConn struct {
	uc   *upstreamConn
	stop func() bool
	once sync.Once
}

func (u *upgradedConn) Read(p []byte) (int, error)  { return u.uc.br.Read(p) }
func (u *upgradedConn) Write(p []byte) (int, error) { return u.uc.conn.Write(p) }
func (u *upgradedConn) Close() error {
	u.once.Do(func() { u.stop() })
	return u.uc.conn.Close()
}
