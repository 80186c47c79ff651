package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/skiff-sh/skiff/internal/storage"
)

func testListPrefix(t *testing.T, s storage.Store) {
	m := newModel(t, s)
	// Written out of order so a store that returns insertion order fails.
	for _, k := range []string{"/a/c", "/a/b/2", "/b", "/a/bc/x", "/a/b/1", "/a/b", "/a/b/sub/3", "/a/b/0"} {
		m.create(k, "value of "+k)
	}
	m.del("/a/b/0", false)

	got, _, err := s.List(t.Context(), "/a/b/", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var keys []string
	for _, kv := range got {
		keys = append(keys, kv.Key)
	}
	// "/a/b" and "/a/bc/x" share bytes with the prefix but are not under it.
	if want := "[/a/b/1 /a/b/2 /a/b/sub/3]"; fmt.Sprint(keys) != want {
		t.Fatalf("List /a/b/ keys %v, want %s", keys, want)
	}
	for _, prefix := range []string{"/a/b/", "/a/b", "/a/", "/", "", "/zzz", "/a/b/sub/3", "/a/bc"} {
		m.expectList(prefix, 0)
	}
}

// testListHistorical walks a hand-written history and lists every revision.
func testListHistorical(t *testing.T, s storage.Store) {
	m := newModel(t, s)
	start := m.rev
	m.create("/h/a", "a1")
	m.create("/h/b", "b1")
	m.update("/h/a", "a2")
	m.del("/h/b", false) // deleted later: must still show at earlier revisions
	m.create("/h/c", "c1")
	m.create("/other", "x")
	m.del("/h/c", true)
	m.create("/h/c", "c2") // re-created: new CreateRevision
	m.update("/h/c", "c3")
	m.create("/h/d", "d1") // created later: must not show at earlier revisions

	for rev := start + 1; rev <= m.rev; rev++ {
		m.expectList("/h/", rev)
		m.expectList("", rev)
	}
	_, _, err := s.List(t.Context(), "/h/", m.rev+1)
	assertErr(t, "List at a future revision", err, storage.ErrFutureRevision)
}

// testListHistoricalRandom checks List at every revision of a random
// history against the model, on several prefixes.
func testListHistoricalRandom(t *testing.T, s storage.Store) {
	m := newModel(t, s)
	start := m.rev
	randomHistory(m, rand.New(rand.NewPCG(1, 2)), 300)
	for rev := start + 1; rev <= m.rev; rev++ {
		for _, prefix := range []string{"/p0/", "/p1/", ""} {
			m.expectList(prefix, rev)
		}
	}
}

// randomHistory makes n random writes to a few keys under three prefixes.
func randomHistory(m *model, r *rand.Rand, n int) {
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("/p%d/k%d", r.IntN(3), r.IntN(6))
		val := fmt.Sprintf("v%d", i)
		if _, ok := m.live[key]; !ok {
			m.create(key, val)
			continue
		}
		if r.IntN(4) == 0 {
			m.del(key, r.IntN(2) == 0)
		} else {
			m.update(key, val)
		}
	}
}

func testCompact(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	randomHistory(m, rand.New(rand.NewPCG(3, 4)), 120)
	mid := m.rev
	randomHistory(m, rand.New(rand.NewPCG(5, 6)), 80)

	if err := s.Compact(ctx, mid); err != nil {
		t.Fatalf("Compact at %d: %v", mid, err)
	}
	if got, err := s.CompactedRevision(ctx); err != nil || got != mid {
		t.Fatalf("CompactedRevision %d, %v; want %d", got, err, mid)
	}
	_, _, err := s.List(ctx, "/", mid-1)
	assertErr(t, "List below the compacted revision", err, storage.ErrCompacted)
	for rev := mid; rev <= m.rev; rev++ {
		m.expectList("/", rev)
		m.expectList("/p1/", rev)
	}
	m.expectList("/", 0)

	// History from the compacted revision on is still complete.
	ch := watch(ctx, t, s, "/p0/", mid)
	want := m.eventsFrom("/p0/", mid)
	assertEvents(t, "Watch from the compacted revision", collect(t, ch, len(want)), want)

	assertErr(t, "Compact in the future", s.Compact(ctx, m.rev+1), storage.ErrFutureRevision)
	assertErr(t, "Compact below the compacted revision", s.Compact(ctx, mid-1), storage.ErrCompacted)

	// Writes after compaction continue the same revision sequence.
	randomHistory(m, rand.New(rand.NewPCG(7, 8)), 20)
	m.expectList("/", 0)
	m.expectList("/", mid)
}

// testCompactKeepsLiveKeys compacts at the latest revision, which must keep
// every live key however old its last write, and nothing deleted.
func testCompactKeepsLiveKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	m.create("/old", "written once, long ago")
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("/busy/%d", i%5)
		if _, ok := m.live[key]; ok {
			m.update(key, fmt.Sprint(i))
		} else {
			m.create(key, fmt.Sprint(i))
		}
	}
	m.create("/gone", "x")
	m.del("/gone", true)
	m.create("/recreated", "1")
	m.del("/recreated", false)
	m.create("/recreated", "2")

	if err := s.Compact(ctx, m.rev); err != nil {
		t.Fatalf("Compact at %d: %v", m.rev, err)
	}
	m.expectList("", 0)
	m.expectList("", m.rev)
	for key, want := range m.live {
		got, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get %q after Compact: %v", key, err)
		}
		assertKV(t, "Get after Compact", got, want)
	}
	_, err := s.Get(ctx, "/gone")
	assertErr(t, "Get of deleted key after Compact", err, storage.ErrNotFound)
	// Updates keep working against the kept versions.
	m.update("/old", "updated")
	m.del("/recreated", false)
	m.expectList("", 0)
}
