package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// tlsHandshakeTimeout bounds a client's TLS handshake.
const tlsHandshakeTimeout = 10 * time.Second

// frontend is one listener (port 80 or 443). It accepts connections,
// completes TLS when it is the HTTPS one, and serves HTTP/1.x itself;
// connections that negotiate HTTP/2 are handed to net/http's server.
type frontend struct {
	c      *Controller
	ln     net.Listener
	tls    *tls.Config // nil on the plain HTTP listener
	scheme string      // "http" or "https", for X-Forwarded-Proto
	port   string      // for X-Forwarded-Port
	h2     *http.Server
	h2conn *connQueue

	// closing is set (under mu) when shutdown begins.
	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*h1conn]struct{} // HTTP/1 connections being served
}

func newFrontend(c *Controller, ln net.Listener, tlsConfig *tls.Config) *frontend {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	f := &frontend{c: c, ln: ln, tls: tlsConfig, scheme: "http", port: port, conns: map[*h1conn]struct{}{}}
	if tlsConfig != nil {
		f.scheme = "https"
		f.tls = tlsConfig.Clone()
		f.tls.NextProtos = []string{"h2", "http/1.1"}
		f.h2conn = newConnQueue(ln.Addr())
		f.h2 = &http.Server{
			Handler:           newH2Handler(c, port),
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       clientIdleTimeout,
			TLSConfig:         f.tls,
		}
	}
	return f
}

// serve accepts until the listener is closed.
func (f *frontend) serve() error {
	h2done := make(chan error, 1)
	if f.h2 != nil {
		go func() { h2done <- f.h2.Serve(f.h2conn) }()
	}
	var err error
	backoff := time.Duration(0)
	for {
		var conn net.Conn
		conn, err = f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors or a connection aborted before it
			// was accepted: back off and go on, as net/http's server does,
			// rather than let one bad moment end the listener.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			klog.V(2).InfoS("Ingress accept failed; retrying", "addr", f.ln.Addr(), "delay", backoff, "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go f.handle(conn)
	}
	if f.h2 != nil {
		_ = f.h2conn.Close()
		if herr := <-h2done; herr != nil && !errors.Is(herr, http.ErrServerClosed) && !errors.Is(herr, net.ErrClosed) {
			return fmt.Errorf("serve HTTP/2: %w", herr)
		}
	}
	if f.closing.Load() {
		return nil
	}
	return err
}

// handle completes TLS when needed and serves the connection with the
// protocol the client chose.
func (f *frontend) handle(conn net.Conn) {
	if f.tls == nil {
		f.serveHTTP1(conn)
		return
	}
	tc := tls.Server(conn, f.tls)
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		_ = conn.Close()
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		if !f.h2conn.put(tc) {
			_ = tc.Close()
		}
		return
	}
	f.serveHTTP1(tc)
}

// track registers hc for shutdown; it reports false when the frontend is
// already shutting down and the connection should not be served.
func (f *frontend) track(hc *h1conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		return false
	}
	f.conns[hc] = struct{}{}
	return true
}

// forget closes hc and stops tracking it.
func (f *frontend) forget(hc *h1conn) {
	f.mu.Lock()
	delete(f.conns, hc)
	f.mu.Unlock()
	_ = hc.conn.Close()
}

// hijack stops tracking hc: an upgraded connection is not drained, as
// net/http does not drain hijacked ones.
func (f *frontend) hijack(hc *h1conn) {
	f.mu.Lock()
	delete(f.conns, hc)
	f.mu.Unlock()
}

// shutdown stops accepting, closes idle connections and waits for busy
// ones to finish their request until ctx ends; then it closes the rest.
func (f *frontend) shutdown(ctx context.Context) {
	f.mu.Lock()
	f.closing.Store(true)
	f.mu.Unlock()
	_ = f.ln.Close()
	var h2wg sync.WaitGroup
	if f.h2 != nil {
		h2wg.Go(func() {
			if f.h2.Shutdown(ctx) != nil {
				_ = f.h2.Close()
			}
		})
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for f.closeConns(false) > 0 {
		select {
		case <-ctx.Done():
			f.closeConns(true)
			h2wg.Wait()
			return
		case <-tick.C:
		}
	}
	h2wg.Wait()
}

// closeConns closes the idle connections, or all with busy too, and
// returns how many were busy.
func (f *frontend) closeConns(busy bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for hc := range f.conns {
		idle := hc.idle.Load()
		if idle || busy {
			_ = hc.conn.Close()
		}
		if !idle {
			n++
		}
	}
	return n
}

// connQueue is a net.Listener that yields the connections put into it: it
// feeds net/http's server the TLS connections that chose HTTP/2.
type connQueue struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *connQueue) put(c net.Conn) bool {
	select {
	case q.conns <- c:
		return true
	case <-q.closed:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
