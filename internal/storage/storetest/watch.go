package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/storage"
)

func testWatchReplayThenLive(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	m.create("/w/a", "a1")
	m.create("/x/skip", "not under the prefix")
	from := m.create("/w/b", "b1")
	m.update("/w/a", "a2")
	m.create("/w", "shares bytes, not under /w/")
	m.del("/w/b", false)

	ch := watch(ctx, t, s, "/w/", from)
	want := m.eventsFrom("/w/", from)
	assertEvents(t, "replayed history", collect(t, ch, len(want)), want)

	// Live events follow the replay without a gap or repeat.
	live := m.rev + 1
	m.del("/w/a", true)
	m.create("/x/skip2", "no")
	m.create("/w/c", "c1")
	m.update("/w/c", "c2")
	want = m.eventsFrom("/w/", live)
	got := collect(t, ch, len(want))
	assertEvents(t, "live events", got, want)

	// A delete event carries the deleted value and its CreateRevision, with
	// the delete's own revision.
	del := got[0]
	if del.Type != storage.EventDelete || string(del.KV.Value) != "a2" || del.KV.ModRevision != live {
		t.Fatalf("delete event %s, want DEL of value a2 at %d", fmtEvents(got[:1]), live)
	}
	expectQuiet(t, ch)
}

func testWatchFromNow(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	m.create("/n/before", "1")
	ch := watch(ctx, t, s, "/n/", 0)
	from := m.rev + 1
	m.update("/n/before", "2")
	m.create("/n/after", "3")
	want := m.eventsFrom("/n/", from)
	assertEvents(t, "Watch(0)", collect(t, ch, len(want)), want)
	expectQuiet(t, ch)

	// A watch from a revision not written yet starts there.
	future := m.rev + 2
	fch := watch(ctx, t, s, "/n/", future)
	m.create("/n/f1", "skipped: before the start")
	m.create("/n/f2", "seen")
	want = m.eventsFrom("/n/", future)
	assertEvents(t, "Watch from a future revision", collect(t, fch, len(want)), want)
}

func testWatchCompacted(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	for i := 0; i < 10; i++ {
		m.create(fmt.Sprintf("/c/%d", i), "v")
	}
	at := m.rev - 3
	if err := s.Compact(ctx, at); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	_, err := s.Watch(ctx, "/c/", at-1)
	assertErr(t, "Watch below the compacted revision", err, storage.ErrCompacted)
	_, err = s.Watch(ctx, "", 1)
	assertErr(t, "Watch from revision 1 after compaction", err, storage.ErrCompacted)

	ch := watch(ctx, t, s, "/c/", at)
	want := m.eventsFrom("/c/", at)
	assertEvents(t, "Watch from the compacted revision", collect(t, ch, len(want)), want)
}

// testWatchLongHistory replays more history than a backend is likely to
// cache in memory, while writes continue, and checks the hand-over from
// history to live events.
func testWatchLongHistory(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	first := m.rev + 1
	for i := 0; i < 1500; i++ {
		key := fmt.Sprintf("/l/%d", i%50)
		if _, ok := m.live[key]; ok {
			m.update(key, fmt.Sprint(i))
		} else {
			m.create(key, fmt.Sprint(i))
		}
	}
	ch := watch(ctx, t, s, "/l/", first)
	for i := 0; i < 100; i++ {
		m.update(fmt.Sprintf("/l/%d", i%50), fmt.Sprint("late", i))
	}
	want := m.eventsFrom("/l/", first)
	assertEvents(t, "long replay", collect(t, ch, len(want)), want)
}

func testWatchCancel(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := watch(ctx, t, s, "", 0)
	m := newModel(t, s)
	m.create("/k", "v")
	cancel()
	timeout := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch channel not closed after its context was cancelled")
		}
	}
}

// testSlowWatcher checks that a watcher that never reads neither blocks
// writers nor lives forever: its channel ends with an Err.
func testSlowWatcher(t *testing.T, s storage.Store) {
	ctx := t.Context()
	slow := watch(ctx, t, s, "", 0)
	before := current(t, s)

	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < SlowWatcherWrites/writers; i++ {
				if _, err := s.Create(ctx, fmt.Sprintf("/slow/%d/%d", w, i), []byte("payload")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("writers blocked behind a watcher that does not read")
	}
	close(errs)
	for err := range errs {
		t.Fatalf("Create: %v", err)
	}

	// Whatever the slow watcher did get must be in order and gap-free, and
	// it must end with an error rather than silently skip events.
	next := before + 1
	timeout := time.After(waitTimeout)
	for {
		select {
		case resp, ok := <-slow:
			if !ok {
				t.Fatal("slow watcher closed without an Err")
			}
			for _, ev := range resp.Events {
				if ev.KV.ModRevision != next {
					t.Fatalf("slow watcher got revision %d, want %d", ev.KV.ModRevision, next)
				}
				next++
			}
			if resp.Err != nil {
				return
			}
		case <-timeout:
			t.Fatalf("slow watcher not ended with an Err after %d writes (read up to revision %d)",
				SlowWatcherWrites, next-1)
		}
	}
}
