// Package storetest is the contract every storage.Store backend must meet.
// A backend's tests call Run with a constructor for fresh, empty stores:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storage.Store { ... })
//	}
//
// The constructor is called from parallel subtests and must return an
// independent store each time. It must register the store's Close with
// t.Cleanup; the suite closes some stores itself, so a second Close must not
// fail the test (its error is ignored). Backends must end a watcher that falls behind by more
// than SlowWatcherWrites/2 events, or the slow-watcher test fails.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/storage"
)

// SlowWatcherWrites is how many writes the slow-watcher test makes while a
// watcher does not read.
const SlowWatcherWrites = 5000

// waitTimeout bounds every wait on a watch or on blocked writers, so a
// broken backend fails instead of hanging the test binary.
const waitTimeout = 30 * time.Second

// Run runs the contract suite, each subtest against a store of its own.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"CreateGet", testCreateGet},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"RevisionsIncreaseByOne", testRevisions},
		{"ListPrefix", testListPrefix},
		{"ListHistorical", testListHistorical},
		{"ListHistoricalRandom", testListHistoricalRandom},
		{"Compact", testCompact},
		{"CompactKeepsLiveKeys", testCompactKeepsLiveKeys},
		{"WatchReplayThenLive", testWatchReplayThenLive},
		{"WatchFromNow", testWatchFromNow},
		{"WatchCompacted", testWatchCompacted},
		{"WatchLongHistory", testWatchLongHistory},
		{"WatchCancel", testWatchCancel},
		{"SlowWatcher", testSlowWatcher},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each subtest has its own store, and most time is spent
			// waiting for fsync, so they run side by side.
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// model mirrors what a store should contain, so tests can state expected
// results for every revision instead of hand-writing them.
type model struct {
	t      *testing.T
	s      storage.Store
	rev    int64
	live   map[string]storage.KeyValue
	snaps  map[int64]map[string]storage.KeyValue // state after each revision
	events []storage.Event
}

func newModel(t *testing.T, s storage.Store) *model {
	t.Helper()
	rev, err := s.CurrentRevision(t.Context())
	if err != nil {
		t.Fatalf("CurrentRevision: %v", err)
	}
	m := &model{t: t, s: s, rev: rev, live: map[string]storage.KeyValue{},
		snaps: map[int64]map[string]storage.KeyValue{}}
	m.snapshot()
	return m
}

func (m *model) snapshot() {
	snap := make(map[string]storage.KeyValue, len(m.live))
	for k, v := range m.live {
		snap[k] = v
	}
	m.snaps[m.rev] = snap
}

// wrote records a successful write and checks it took the next revision.
func (m *model) wrote(op string, rev int64, ev storage.Event) {
	m.t.Helper()
	if rev != m.rev+1 {
		m.t.Fatalf("%s %q: revision %d, want %d (one more than the last write)", op, ev.KV.Key, rev, m.rev+1)
	}
	m.rev = rev
	m.events = append(m.events, ev)
	if ev.Type == storage.EventDelete {
		delete(m.live, ev.KV.Key)
	} else {
		m.live[ev.KV.Key] = ev.KV
	}
	m.snapshot()
}

func (m *model) create(key, value string) int64 {
	m.t.Helper()
	rev, err := m.s.Create(m.t.Context(), key, []byte(value))
	if err != nil {
		m.t.Fatalf("Create %q: %v", key, err)
	}
	m.wrote("Create", rev, storage.Event{Type: storage.EventPut, KV: storage.KeyValue{
		Key: key, Value: []byte(value), CreateRevision: rev, ModRevision: rev}})
	return rev
}

func (m *model) update(key, value string) int64 {
	m.t.Helper()
	cur, ok := m.live[key]
	if !ok {
		m.t.Fatalf("model: update of missing key %q", key)
	}
	rev, err := m.s.Update(m.t.Context(), key, []byte(value), cur.ModRevision)
	if err != nil {
		m.t.Fatalf("Update %q at %d: %v", key, cur.ModRevision, err)
	}
	m.wrote("Update", rev, storage.Event{Type: storage.EventPut, KV: storage.KeyValue{
		Key: key, Value: []byte(value), CreateRevision: cur.CreateRevision, ModRevision: rev}})
	return rev
}

// del deletes key, conditionally on its current revision unless
// unconditional, and checks the returned previous version.
func (m *model) del(key string, unconditional bool) int64 {
	m.t.Helper()
	cur, ok := m.live[key]
	if !ok {
		m.t.Fatalf("model: delete of missing key %q", key)
	}
	expected := cur.ModRevision
	if unconditional {
		expected = 0
	}
	rev, prev, err := m.s.Delete(m.t.Context(), key, expected)
	if err != nil {
		m.t.Fatalf("Delete %q at %d: %v", key, expected, err)
	}
	assertKV(m.t, "Delete's previous version", prev, cur)
	m.wrote("Delete", rev, storage.Event{Type: storage.EventDelete, KV: storage.KeyValue{
		Key: key, Value: cur.Value, CreateRevision: cur.CreateRevision, ModRevision: rev}})
	return rev
}

// expectList checks List(prefix, rev) against the model's state at rev.
func (m *model) expectList(prefix string, rev int64) {
	m.t.Helper()
	at := rev
	if at == 0 {
		at = m.rev
	}
	snap, ok := m.snaps[at]
	if !ok {
		m.t.Fatalf("model has no snapshot at %d", at)
	}
	var want []storage.KeyValue
	for k, v := range snap {
		if strings.HasPrefix(k, prefix) {
			want = append(want, v)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Key < want[j].Key })
	got, gotRev, err := m.s.List(m.t.Context(), prefix, rev)
	if err != nil {
		m.t.Fatalf("List %q at %d: %v", prefix, rev, err)
	}
	if gotRev != at {
		m.t.Fatalf("List %q at %d: reflects revision %d, want %d", prefix, rev, gotRev, at)
	}
	assertKVs(m.t, fmt.Sprintf("List %q at %d", prefix, rev), got, want)
}

// eventsFrom is what Watch(prefix, from) must replay.
func (m *model) eventsFrom(prefix string, from int64) []storage.Event {
	var out []storage.Event
	for _, ev := range m.events {
		if ev.KV.ModRevision >= from && strings.HasPrefix(ev.KV.Key, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

func assertKV(t *testing.T, what string, got, want storage.KeyValue) {
	t.Helper()
	if !kvEqual(got, want) {
		t.Fatalf("%s: got %s, want %s", what, fmtKV(got), fmtKV(want))
	}
}

func assertKVs(t *testing.T, what string, got, want []storage.KeyValue) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = kvEqual(got[i], want[i])
	}
	if !ok {
		t.Fatalf("%s:\n got  %s\n want %s", what, fmtKVs(got), fmtKVs(want))
	}
}

func kvEqual(a, b storage.KeyValue) bool {
	return a.Key == b.Key && string(a.Value) == string(b.Value) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision
}

func fmtKV(kv storage.KeyValue) string {
	return fmt.Sprintf("{%q=%q c%d m%d}", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
}

func fmtKVs(kvs []storage.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = fmtKV(kv)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func assertEvents(t *testing.T, what string, got, want []storage.Event) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Type == want[i].Type && kvEqual(got[i].KV, want[i].KV)
	}
	if !ok {
		t.Fatalf("%s:\n got  %s\n want %s", what, fmtEvents(got), fmtEvents(want))
	}
}

func fmtEvents(evs []storage.Event) string {
	parts := make([]string, len(evs))
	for i, ev := range evs {
		typ := "PUT"
		if ev.Type == storage.EventDelete {
			typ = "DEL"
		}
		parts[i] = typ + fmtKV(ev.KV)
	}
	if len(parts) > 20 {
		parts = append(parts[:20], fmt.Sprintf("... (%d events)", len(evs)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func assertErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// collect reads exactly n events from ch, failing on an Err response, a
// closed channel, more events than n, or events out of revision order.
func collect(t *testing.T, ch <-chan storage.WatchResponse, n int) []storage.Event {
	t.Helper()
	var out []storage.Event
	timeout := time.After(waitTimeout)
	for len(out) < n {
		select {
		case resp, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(out), n)
			}
			if resp.Err != nil {
				t.Fatalf("watch ended after %d of %d events: %v", len(out), n, resp.Err)
			}
			out = append(out, resp.Events...)
		case <-timeout:
			t.Fatalf("timed out after %d of %d events: %s", len(out), n, fmtEvents(out))
		}
	}
	if len(out) > n {
		t.Fatalf("got %d events, want %d: %s", len(out), n, fmtEvents(out))
	}
	assertOrdered(t, out)
	return out
}

func assertOrdered(t *testing.T, evs []storage.Event) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].KV.ModRevision <= evs[i-1].KV.ModRevision {
			t.Fatalf("events out of order: revision %d after %d", evs[i].KV.ModRevision, evs[i-1].KV.ModRevision)
		}
	}
}

// expectQuiet checks that nothing arrives on ch for a short while.
func expectQuiet(t *testing.T, ch <-chan storage.WatchResponse) {
	t.Helper()
	select {
	case resp := <-ch:
		t.Fatalf("unexpected watch response: err=%v events=%s", resp.Err, fmtEvents(resp.Events))
	case <-time.After(100 * time.Millisecond):
	}
}

func watch(ctx context.Context, t *testing.T, s storage.Store, prefix string, from int64) <-chan storage.WatchResponse {
	t.Helper()
	ch, err := s.Watch(ctx, prefix, from)
	if err != nil {
		t.Fatalf("Watch %q from %d: %v", prefix, from, err)
	}
	return ch
}

func current(t *testing.T, s storage.Store) int64 {
	t.Helper()
	rev, err := s.CurrentRevision(t.Context())
	if err != nil {
		t.Fatalf("CurrentRevision: %v", err)
	}
	return rev
}
