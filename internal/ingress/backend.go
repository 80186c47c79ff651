package ingress

import (
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
)

// endpoint is one ready address:port. Its state outlives routing-table
// rebuilds (the pool keeps it while any backend lists it), and it keeps
// its own idle connections so they can be closed when it leaves without
// touching anyone else's.
type endpoint struct {
	addr string
	// failures is the count of consecutive failures; ejectedUntil the
	// unix-nano time before which the endpoint is skipped.
	failures     atomic.Int64
	ejectedUntil atomic.Int64

	mu      sync.Mutex
	idle    []*upstreamConn
	removed bool
}

func newEndpoint(addr string) *endpoint { return &endpoint{addr: addr} }

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
	mu  sync.Mutex
	eps map[string]*endpoint
}

func newPool() *pool {
	return &pool{eps: map[string]*endpoint{}}
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

// retain drops every endpoint not in live and retires it; requests that
// already picked it finish on their open connections.
func (p *pool) retain(live map[*endpoint]struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, ep := range p.eps {
		if _, ok := live[ep]; ok {
			continue
		}
		delete(p.eps, addr)
		ep.retire()
	}
}

// close retires every endpoint: idle connections close now, busy ones
// when their responses end.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ep := range p.eps {
		ep.retire()
	}
}
