package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/storetest"
)

// openTest opens a store in a fresh temp dir and closes it at cleanup.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "skiff.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestContract(t *testing.T) {
	// The slow-watcher test needs a buffer well under its write count.
	configs := map[string]Options{
		"RingServesReplays": {WatchBufferSize: 1000},
		// A tiny ring sends every replay through the revisions bucket
		// and the hand-over from disk to live events.
		"DiskServesReplays": {WatchBufferSize: 1000, WatchCacheSize: 16, MaxBatch: 8, CompactChunk: 7},
	}
	for name, opts := range configs {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storage.Store {
				s, _ := openTest(t, opts)
				return s
			})
		})
	}
}

// TestPersist reopens the same file and expects every key, the history and
// the revision counters back.
func TestPersist(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, Options{})
	for i := 0; i < 50; i++ {
		if _, err := s.Create(ctx, fmt.Sprintf("/p/%02d", i), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := s.Get(ctx, "/p/07")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "/p/07", []byte("updated"), kv.ModRevision); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Delete(ctx, "/p/08", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, 10); err != nil {
		t.Fatal(err)
	}
	before, rev, err := s.List(ctx, "/p/", 0)
	if err != nil {
		t.Fatal(err)
	}
	historical, _, err := s.List(ctx, "/p/", 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if got, _ := s2.CurrentRevision(ctx); got != rev {
		t.Fatalf("CurrentRevision after reopen %d, want %d", got, rev)
	}
	if got, _ := s2.CompactedRevision(ctx); got != 10 {
		t.Fatalf("CompactedRevision after reopen %d, want 10", got)
	}
	assertSameList(t, s2, "/p/", 0, before)
	assertSameList(t, s2, "/p/", 30, historical)

	// The counter continues, and history replays from disk.
	next, err := s2.Create(ctx, "/p/new", nil)
	if err != nil || next != rev+1 {
		t.Fatalf("Create after reopen: revision %d, %v; want %d", next, err, rev+1)
	}
	ch, err := s2.Watch(ctx, "/p/", rev-1)
	if err != nil {
		t.Fatal(err)
	}
	resp := <-ch
	if len(resp.Events) != 3 || resp.Events[0].KV.ModRevision != rev-1 || resp.Events[2].KV.ModRevision != rev+1 {
		t.Fatalf("replay after reopen: %+v", resp)
	}
	if resp.Events[1].Type != storage.EventDelete || string(resp.Events[1].KV.Value) != "v8" {
		t.Fatalf("replayed delete: %+v", resp.Events[1])
	}
}

func assertSameList(t *testing.T, s *Store, prefix string, rev int64, want []storage.KeyValue) {
	t.Helper()
	got, _, err := s.List(t.Context(), prefix, rev)
	if err != nil {
		t.Fatalf("List %q at %d: %v", prefix, rev, err)
	}
	if len(got) != len(want) {
		t.Fatalf("List %q at %d: %d keys, want %d", prefix, rev, len(got), len(want))
	}
	for i := range got {
		if got[i].Key != want[i].Key || string(got[i].Value) != string(want[i].Value) ||
			got[i].ModRevision != want[i].ModRevision || got[i].CreateRevision != want[i].CreateRevision {
			t.Fatalf("List %q at %d: [%d] = %+v, want %+v", prefix, rev, i, got[i], want[i])
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	ctx := t.Context()
	s, _ := openTest(t, Options{})
	long := string(make([]byte, MaxKeySize+1))
	for _, key := range []string{"", long} {
		if _, err := s.Create(ctx, key, nil); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("Create of %d-byte key: %v, want ErrInvalidKey", len(key), err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("Get of %d-byte key: %v, want ErrInvalidKey", len(key), err)
		}
	}
	if _, err := s.Create(ctx, long[:MaxKeySize], []byte("x")); err != nil {
		t.Fatalf("Create of a maximal key: %v", err)
	}
	if rev, _ := s.CurrentRevision(ctx); rev != 1 {
		t.Fatalf("revision %d after invalid writes, want 1", rev)
	}
}

func TestNegativeRevisions(t *testing.T) {
	s, _ := openTest(t, Options{})
	if _, _, err := s.List(t.Context(), "", -1); err == nil {
		t.Fatal("List at -1 succeeded")
	}
	if _, err := s.Watch(t.Context(), "", -1); err == nil {
		t.Fatal("Watch from -1 succeeded")
	}
}
