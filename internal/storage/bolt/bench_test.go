package bolt

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCreateParallel measures fsync'd single-key creates from 32
// concurrent writers, the shape of an API server under load, and reports
// throughput and latency percentiles.
//
//	go test -run '^$' -bench CreateParallel -benchtime 20000x ./internal/storage/bolt/
func BenchmarkCreateParallel(b *testing.B) {
	const writers = 32
	s, _ := openTest(b, Options{})
	value := bytes.Repeat([]byte("v"), 1024)
	var (
		seq  atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	// RunParallel starts parallelism*GOMAXPROCS goroutines.
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			key := fmt.Sprintf("/registry/pods/default/pod-%d", seq.Add(1))
			t0 := time.Now()
			if _, err := s.Create(b.Context(), key, value); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatencies(b, lats, elapsed)
}

func reportLatencies(b *testing.B, lats []time.Duration, elapsed time.Duration) {
	if len(lats) == 0 {
		return
	}
	slices.Sort(lats)
	pct := func(p float64) float64 {
		return float64(lats[int(float64(len(lats)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "creates/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkCreateSerial is the single-writer baseline: one fsync'd commit
// per create, nothing to group.
func BenchmarkCreateSerial(b *testing.B) {
	s, _ := openTest(b, Options{})
	value := bytes.Repeat([]byte("v"), 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Create(b.Context(), fmt.Sprintf("/registry/pods/default/pod-%d", i), value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileSize reports the file size for 10,000 keys of 1.5 KB after
// five updates of each, then after Compact and after Defragment.
//
//	go test -run '^$' -bench FileSize -benchtime 1x ./internal/storage/bolt/
func BenchmarkFileSize(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s, _ := openTest(b, Options{})
		fillAndUpdate(b, s, 10000, 5, 1536)
		before := fileSize(b, s)
		rev, _ := s.CurrentRevision(b.Context())
		t0 := time.Now()
		if err := s.Compact(b.Context(), rev); err != nil {
			b.Fatal(err)
		}
		compactTime := time.Since(t0)
		afterCompact := fileSize(b, s)
		t0 = time.Now()
		if err := s.Defragment(); err != nil {
			b.Fatal(err)
		}
		defragTime := time.Since(t0)
		after := fileSize(b, s)
		b.ReportMetric(float64(before)/(1<<20), "MB-before")
		b.ReportMetric(float64(afterCompact)/(1<<20), "MB-compacted")
		b.ReportMetric(float64(after)/(1<<20), "MB-defragmented")
		b.ReportMetric(compactTime.Seconds()*1000, "compact-ms")
		b.ReportMetric(defragTime.Seconds()*1000, "defrag-ms")
	}
}
