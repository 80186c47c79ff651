package gcheadroom

import (
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	p := Policy{Headroom: 64 << 20, MinPercent: 40, MaxPercent: 100}
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},        // nothing measured yet
		{20 << 20, 100}, // small heap: Go's default
		{64 << 20, 100}, // the headroom equals the heap
		{128 << 20, 50}, // 64 MiB of growth on 128 MiB
		{160 << 20, 40}, // at the floor
		{1 << 30, 40},   // never below it
	} {
		if got := p.Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

func TestLiveHeapMetricExists(t *testing.T) {
	for _, d := range metrics.All() {
		if d.Name == liveHeapMetric && d.Kind == metrics.KindUint64 {
			return
		}
	}
	t.Fatalf("runtime/metrics has no %s; Keep would never adjust the GC percent", liveHeapMetric)
}
