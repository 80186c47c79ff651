package ingress

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Passive health: an endpoint that failed is skipped for ejectBase,
// doubling per consecutive failure up to ejectMax (5s, 10s, 20s, 40s,
// 60s). A pod that is going away is normally removed from the slice long
// before the ejection ends, so the exact figures matter little.
const (
	ejectBase = 5 * time.Second
	ejectMax  = 60 * time.Second
	// drainTick is how often a removed endpoint's idle keep-alive
	// connections are closed while its in-flight requests finish.
	drainTick = 200 * time.Millisecond
	// drainMax bounds how long a removed endpoint is watched; past it
	// the pod has been killed and its connections are dead anyway.
	drainMax = 10 * time.Minute
)

// endpoint is one ready address:port. Its state outlives routing-table
// rebuilds (the pool keeps it while any backend lists it), and each has
// its own Transport so its keep-alive connections can be closed when it
// leaves without touching anyone else's.
type endpoint struct {
	addr      string
	transport *http.Transport
	// inflight counts requests whose response body is still open.
	inflight atomic.Int64
	// failures is the count of consecutive failures; ejectedUntil the
	// unix-nano time before which the endpoint is skipped.
	failures     atomic.Int64
	ejectedUntil atomic.Int64
	removed      atomic.Bool
}

func newEndpoint(addr string) *endpoint {
	dialer := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	return &endpoint{
		addr: addr,
		transport: &http.Transport{
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, a)
				if err != nil {
					return nil, &dialError{err: err}
				}
				return c, nil
			},
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			// Clients negotiate encoding with the backend themselves.
			DisableCompression:    true,
			ExpectContinueTimeout: time.Second,
		},
	}
}

// dialError marks a failure before any byte reached the endpoint, which
// makes any request safe to retry elsewhere.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial endpoint: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (e *endpoint) healthy(now int64) bool { return e.ejectedUntil.Load() <= now }

func (e *endpoint) markFailure(now time.Time) {
	n := e.failures.Add(1)
	d := ejectBase
	for i := int64(1); i < n && d < ejectMax; i++ {
		d *= 2
	}
	d = min(d, ejectMax)
	e.ejectedUntil.Store(now.Add(d).UnixNano())
}

func (e *endpoint) markSuccess() {
	if e.failures.Load() != 0 {
		e.failures.Store(0)
		e.ejectedUntil.Store(0)
	}
}

// drain closes the removed endpoint's idle connections until its last
// in-flight request is done, so a keep-alive connection to a pod that
// left is never reused and never held open. Connections go back to the
// idle pool asynchronously after a body is closed, hence the ticker
// rather than one call.
func (e *endpoint) drain(stop <-chan struct{}) {
	t := time.NewTicker(drainTick)
	defer t.Stop()
	deadline := time.Now().Add(drainMax)
	quiet := 0
	for {
		e.transport.CloseIdleConnections()
		if e.inflight.Load() == 0 {
			// One more tick lets the last connection reach the pool.
			if quiet++; quiet > 1 {
				return
			}
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-stop:
			e.transport.CloseIdleConnections()
			return
		case <-t.C:
		}
	}
}

// endpointSet is an immutable list a backend balances over.
type endpointSet struct {
	list []*endpoint
	// err is why the backend cannot be served at all (no such Service
	// or port): answered with 503 like an empty list, but logged.
	err string
}

// backend is one (namespace, service, port) an Ingress names. The
// endpoint list is swapped atomically when EndpointSlices change, so a
// slice update never rebuilds the routes.
type backend struct {
	namespace, service string
	// port is the Ingress's port reference: a number or a name.
	portNumber int32
	portName   string
	eps        atomic.Pointer[endpointSet]
	rr         atomic.Uint64
}

// pick returns the next healthy endpoint in round-robin order that is not
// in tried. When every untried endpoint is ejected it returns one of them
// anyway: a guess beats a certain failure. Each skip advances the shared
// counter, so an ejected endpoint's share spreads over all the others
// instead of landing on its neighbour.
func (b *backend) pick(tried []*endpoint) *endpoint {
	set := b.eps.Load()
	if set == nil || len(set.list) == 0 {
		return nil
	}
	n := uint64(len(set.list))
	now := time.Now().UnixNano()
	for range n {
		ep := set.list[b.rr.Add(1)%n]
		if ep.healthy(now) && !containsEndpoint(tried, ep) {
			return ep
		}
	}
	// Concurrent picks may have moved the counter past a candidate, so
	// settle it with one ordered scan.
	var fallback *endpoint
	for _, ep := range set.list {
		if containsEndpoint(tried, ep) {
			continue
		}
		if ep.healthy(now) {
			return ep
		}
		if fallback == nil {
			fallback = ep
		}
	}
	return fallback
}

func containsEndpoint(list []*endpoint, ep *endpoint) bool {
	for _, e := range list {
		if e == ep {
			return true
		}
	}
	return false
}

// pool owns every endpoint any backend refers to, keyed by address.
type pool struct {
	mu   sync.Mutex
	eps  map[string]*endpoint
	stop chan struct{}
}

func newPool() *pool {
	return &pool{eps: map[string]*endpoint{}, stop: make(chan struct{})}
}

// get returns the endpoint for addr, creating it when new.
func (p *pool) get(addr string) *endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	ep, ok := p.eps[addr]
	if !ok {
		ep = newEndpoint(addr)
		p.eps[addr] = ep
	}
	return ep
}

// retain drops every endpoint not in live and drains it; requests that
// already picked it finish on their open connections.
func (p *pool) retain(live map[*endpoint]struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, ep := range p.eps {
		if _, ok := live[ep]; ok {
			continue
		}
		delete(p.eps, addr)
		ep.removed.Store(true)
		go ep.drain(p.stop)
	}
}

// close stops every drain and closes all idle connections.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.stop)
	for _, ep := range p.eps {
		ep.transport.CloseIdleConnections()
	}
}
