package scheduler

import (
	"slices"
	"sync"
	"time"
)

// latencySamples is how many recent per-pod latencies the scheduler keeps:
// enough for a 10,000-pod benchmark, bounded (1 MiB for both rings) for a
// long-running server.
const latencySamples = 1 << 16

// Stats is a snapshot of the scheduler's counters and latencies.
type Stats struct {
	// Scheduled counts pods bound since start.
	Scheduled uint64
	// Unschedulable counts attempts that found no feasible node.
	Unschedulable uint64
	// Errors counts attempts that failed otherwise (a bind the API server
	// refused, a pod that could not be parsed).
	Errors uint64
	// E2E is per pod from the moment the scheduler first saw it pending to
	// the moment the API server acknowledged its binding: queueing, every
	// attempt and back-off included.
	E2E Quantiles
	// Attempt is per pod for its successful attempt only: from leaving the
	// queue to the binding's acknowledgement.
	Attempt Quantiles
}

// Quantiles summarise the most recent latency samples.
type Quantiles struct {
	Count              int
	P50, P90, P99, Max time.Duration
}

// ring keeps the latest samples.
type ring struct {
	buf  []time.Duration
	next int
	full bool
}

func (r *ring) add(d time.Duration) {
	if len(r.buf) < latencySamples && !r.full {
		r.buf = append(r.buf, d)
		if len(r.buf) == latencySamples {
			r.full = true
		}
		return
	}
	r.buf[r.next] = d
	r.next = (r.next + 1) % latencySamples
}

// ordered returns the samples oldest first.
func (r *ring) ordered() []time.Duration {
	if !r.full {
		return slices.Clone(r.buf)
	}
	return append(slices.Clone(r.buf[r.next:]), r.buf[:r.next]...)
}

type latencyRecorder struct {
	mu            sync.Mutex
	e2e, attempt  ring
	scheduled     uint64
	unschedulable uint64
	errors        uint64
}

func (l *latencyRecorder) bound(e2e, attempt time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.scheduled++
	l.e2e.add(e2e)
	l.attempt.add(attempt)
}

func (l *latencyRecorder) failed(unschedulable bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if unschedulable {
		l.unschedulable++
	} else {
		l.errors++
	}
}

// quantiles uses the nearest-rank method (worked example: of 200 sorted
// samples, p99 is the 198th, index 197).
func quantiles(samples []time.Duration) Quantiles {
	q := Quantiles{Count: len(samples)}
	if len(samples) == 0 {
		return q
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := func(p int) time.Duration {
		i := (len(s)*p + 99) / 100 // ceil(n*p/100), 1-based
		return s[max(i-1, 0)]
	}
	q.P50, q.P90, q.P99, q.Max = rank(50), rank(90), rank(99), s[len(s)-1]
	return q
}

// Latencies returns the end-to-end scheduling latency of the most recently
// bound pods (up to 65,536, oldest first): from the moment the scheduler
// first saw each pod pending to the API server's acknowledgement of its
// binding. Benchmarks read this to report throughput and percentiles.
func (s *Scheduler) Latencies() []time.Duration {
	s.latency.mu.Lock()
	defer s.latency.mu.Unlock()
	return s.latency.e2e.ordered()
}

// Stats returns the scheduler's counters and latency percentiles.
func (s *Scheduler) Stats() Stats {
	s.latency.mu.Lock()
	st := Stats{Scheduled: s.latency.scheduled, Unschedulable: s.latency.unschedulable, Errors: s.latency.errors}
	e2e, att := s.latency.e2e.ordered(), s.latency.attempt.ordered()
	s.latency.mu.Unlock()
	st.E2E, st.Attempt = quantiles(e2e), quantiles(att)
	return st
}
