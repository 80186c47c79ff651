// Package gcheadroom bounds how much garbage a long-running Skiff process
// lets accumulate between garbage collections.
//
// Go's default (GOGC=100) lets the heap grow to twice its live size before
// collecting. For a small live heap that is cheap in memory and keeps the
// collector out of the way of latency-sensitive work such as the Ingress
// proxy; for the control plane of a large cluster, whose heap is mostly
// long-lived caches (the watch cache, informer stores, the scheduler's
// cache), it doubles a few hundred megabytes. Keep sets the GC percent from
// the live heap so that the growth allowed is a fixed amount of memory
// while the heap is small and a smaller fraction as it grows, between a
// floor and Go's default.
//
// The package only sets the GC percent; it never forces a collection, and
// it does nothing when the user set GOGC.
package gcheadroom

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Policy says how much heap growth to allow.
type Policy struct {
	// Headroom is the growth allowed in bytes while it is at most
	// MaxPercent of the live heap.
	Headroom uint64
	// MinPercent and MaxPercent bound the GC percent.
	MinPercent, MaxPercent int
}

// Percent is the GC percent for a live heap of live bytes.
func (p Policy) Percent(live uint64) int {
	if live == 0 {
		return p.MaxPercent
	}
	return int(min(max(p.Headroom*100/live, uint64(p.MinPercent)), uint64(p.MaxPercent)))
}

const liveHeapMetric = "/gc/heap/live:bytes"

// Keep applies p every interval until ctx ends, unless GOGC is set in the
// environment.
func Keep(ctx context.Context, p Policy, interval time.Duration) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	current := -1
	apply := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if percent := p.Percent(sample[0].Value.Uint64()); percent != current {
			debug.SetGCPercent(percent)
			current = percent
		}
	}
	apply()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			apply()
		}
	}
}
