package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/storage"
)

const (
	concWriters  = 32
	concPerWrite = 200
	concCounters = 8
)

// writerLog is what one concurrent writer did.
type writerLog struct {
	revs       []int64
	increments [concCounters]int
	live       map[string]bool
}

// testConcurrentWriters runs many writers, including contended
// read-modify-write updates of shared counters retried on conflict, and
// checks: no lost update, a gap-free revision sequence, and that live and
// replaying watchers see exactly that sequence.
func testConcurrentWriters(t *testing.T, s storage.Store) {
	ctx := t.Context()
	start := current(t, s)
	for c := 0; c < concCounters; c++ {
		if _, err := s.Create(ctx, counterKey(c), []byte("0")); err != nil {
			t.Fatalf("Create counter: %v", err)
		}
	}
	first := start + concCounters + 1
	live := record(watch(ctx, t, s, "/conc/", first))

	logs := make([]writerLog, concWriters)
	var wg sync.WaitGroup
	errs := make(chan error, concWriters)
	for w := 0; w < concWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := concurrentWriter(ctx, s, w, &logs[w]); err != nil {
				errs <- fmt.Errorf("writer %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := current(t, s)

	// Every revision in (first-1, last] was returned to exactly one writer.
	var revs []int64
	for _, l := range logs {
		revs = append(revs, l.revs...)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	for i, r := range revs {
		if r != first+int64(i) {
			t.Fatalf("revision sequence has a gap or repeat at %d: got %d", first+int64(i), r)
		}
	}
	if int64(len(revs)) != last-first+1 {
		t.Fatalf("%d writes acknowledged, but revisions %d..%d were used", len(revs), first, last)
	}

	checkCounters(t, s, logs)
	liveEvents := live.wait(t, len(revs))
	checkEventSequence(t, liveEvents, first)
	replay := collect(t, watch(ctx, t, s, "/conc/", first), len(revs))
	assertEvents(t, "replaying watcher vs live watcher", replay, liveEvents)
	checkOwnKeys(t, s, logs)
}

// recorder reads a watch in the background, as a real consumer does, so a
// test can make writes first and look at the events afterwards.
type recorder struct {
	mu     sync.Mutex
	events []storage.Event
	err    error
}

func record(ch <-chan storage.WatchResponse) *recorder {
	r := &recorder{}
	go func() {
		for resp := range ch {
			r.mu.Lock()
			r.events = append(r.events, resp.Events...)
			if resp.Err != nil {
				r.err = resp.Err
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// wait returns the first n events once they have arrived.
func (r *recorder) wait(t *testing.T, n int) []storage.Event {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		r.mu.Lock()
		events, err := r.events, r.err
		r.mu.Unlock()
		switch {
		case err != nil:
			t.Fatalf("watch ended after %d of %d events: %v", len(events), n, err)
		case len(events) > n:
			t.Fatalf("watch got %d events, want %d", len(events), n)
		case len(events) == n:
			assertOrdered(t, events)
			return events
		case time.Now().After(deadline):
			t.Fatalf("timed out after %d of %d events", len(events), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counterKey(c int) string { return fmt.Sprintf("/conc/counter/%d", c) }

// concurrentWriter alternates creating its own keys (deleting some again)
// with incrementing a shared counter.
func concurrentWriter(ctx context.Context, s storage.Store, w int, l *writerLog) error {
	l.live = map[string]bool{}
	for i := 0; i < concPerWrite; i++ {
		if i%2 == 1 {
			c := (w + i) % concCounters
			rev, err := increment(ctx, s, counterKey(c))
			if err != nil {
				return err
			}
			l.revs = append(l.revs, rev)
			l.increments[c]++
			continue
		}
		key := fmt.Sprintf("/conc/own/%d/%d", w, i)
		rev, err := s.Create(ctx, key, []byte(key))
		if err != nil {
			return err
		}
		l.revs = append(l.revs, rev)
		l.live[key] = true
		if i%10 == 4 {
			drev, _, err := s.Delete(ctx, key, rev)
			if err != nil {
				return err
			}
			l.revs = append(l.revs, drev)
			delete(l.live, key)
		}
	}
	return nil
}

// increment is a read-modify-write retried on conflict, as every API
// server update is.
func increment(ctx context.Context, s storage.Store, key string) (int64, error) {
	for {
		kv, err := s.Get(ctx, key)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(kv.Value))
		if err != nil {
			return 0, fmt.Errorf("counter %q holds %q", key, kv.Value)
		}
		rev, err := s.Update(ctx, key, []byte(strconv.Itoa(n+1)), kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		return rev, err
	}
}

func checkCounters(t *testing.T, s storage.Store, logs []writerLog) {
	t.Helper()
	for c := 0; c < concCounters; c++ {
		want := 0
		for _, l := range logs {
			want += l.increments[c]
		}
		kv, err := s.Get(t.Context(), counterKey(c))
		if err != nil {
			t.Fatalf("Get counter: %v", err)
		}
		if string(kv.Value) != strconv.Itoa(want) {
			t.Fatalf("counter %d = %s after %d increments: lost update", c, kv.Value, want)
		}
	}
}

// checkEventSequence checks the watcher saw consecutive revisions from
// first, and each counter's values go up by exactly one per event.
func checkEventSequence(t *testing.T, evs []storage.Event, first int64) {
	t.Helper()
	counters := map[string]int{}
	for i, ev := range evs {
		if ev.KV.ModRevision != first+int64(i) {
			t.Fatalf("watch event %d has revision %d, want %d", i, ev.KV.ModRevision, first+int64(i))
		}
		if _, err := fmt.Sscanf(ev.KV.Key, "/conc/counter/%d", new(int)); err != nil {
			continue
		}
		n, _ := strconv.Atoi(string(ev.KV.Value))
		if n != counters[ev.KV.Key]+1 {
			t.Fatalf("watch saw %s go from %d to %d", ev.KV.Key, counters[ev.KV.Key], n)
		}
		counters[ev.KV.Key] = n
	}
}

func checkOwnKeys(t *testing.T, s storage.Store, logs []writerLog) {
	t.Helper()
	want := map[string]bool{}
	for _, l := range logs {
		for k := range l.live {
			want[k] = true
		}
	}
	got, _, err := s.List(t.Context(), "/conc/own/", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("List found %d own keys, want %d", len(got), len(want))
	}
	for _, kv := range got {
		if !want[kv.Key] || string(kv.Value) != kv.Key {
			t.Fatalf("unexpected key in List: %s", fmtKV(kv))
		}
	}
}

func testClose(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m := newModel(t, s)
	rev := m.create("/k", "v")
	ch := watch(ctx, t, s, "", 0)

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls := map[string]func() error{
		"Get":               func() error { _, err := s.Get(ctx, "/k"); return err },
		"List":              func() error { _, _, err := s.List(ctx, "", 0); return err },
		"Create":            func() error { _, err := s.Create(ctx, "/new", nil); return err },
		"Update":            func() error { _, err := s.Update(ctx, "/k", nil, rev); return err },
		"Delete":            func() error { _, _, err := s.Delete(ctx, "/k", 0); return err },
		"Watch":             func() error { _, err := s.Watch(ctx, "", 0); return err },
		"CurrentRevision":   func() error { _, err := s.CurrentRevision(ctx); return err },
		"CompactedRevision": func() error { _, err := s.CompactedRevision(ctx); return err },
		"Compact":           func() error { return s.Compact(ctx, rev) },
		"Close":             s.Close,
	}
	for name, call := range calls {
		assertErr(t, name+" after Close", call(), storage.ErrClosed)
	}

	// An open watch ends with ErrClosed.
	select {
	case resp := <-ch:
		assertErr(t, "open watch after Close", resp.Err, storage.ErrClosed)
	case <-time.After(waitTimeout):
		t.Fatal("open watch not ended by Close")
	}
}
