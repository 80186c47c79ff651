package bolt

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"go.etcd.io/bbolt"
)

// fillAndUpdate creates keys values of size bytes and updates each one
// updates times, from 32 writers so group commit keeps it quick.
func fillAndUpdate(tb testing.TB, s *Store, keys, updates, size int) {
	tb.Helper()
	if err := fill(tb.Context(), s, keys, updates, size); err != nil {
		tb.Fatal(err)
	}
}

func fill(ctx context.Context, s *Store, keys, updates, size int) error {
	const writers = 32
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			value := bytes.Repeat([]byte{byte('a' + w%26)}, size)
			for k := w; k < keys; k += writers {
				key := fmt.Sprintf("/registry/configmaps/default/cm-%05d", k)
				rev, err := s.Create(ctx, key, value)
				for u := 0; u < updates && err == nil; u++ {
					rev, err = s.Update(ctx, key, value, rev)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func fileSize(tb testing.TB, s *Store) int64 {
	tb.Helper()
	n, err := s.FileSize()
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func countRecords(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.view(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketRevisions).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCompactDefragmentShrinksFile(t *testing.T) {
	ctx := t.Context()
	s, _ := openTest(t, Options{})
	fillAndUpdate(t, s, 1000, 5, 1536)
	before := fileSize(t, s)
	want, rev, err := s.List(ctx, "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, s); n != 1000 {
		t.Fatalf("%d history records after compacting at the latest revision, want 1000 (one per key)", n)
	}
	if err := s.Defragment(); err != nil {
		t.Fatal(err)
	}
	after := fileSize(t, s)
	t.Logf("file size %d KiB before, %d KiB after Compact+Defragment", before>>10, after>>10)
	if after*3 > before {
		t.Fatalf("file %d bytes after Compact+Defragment, want under a third of %d", after, before)
	}
	assertSameList(t, s, "/", 0, want)
	// The swapped-in file takes writes as before.
	if _, err := s.Update(ctx, want[0].Key, []byte("x"), want[0].ModRevision); err != nil {
		t.Fatalf("Update after Defragment: %v", err)
	}
}

func TestOpenDefragmentsMostlyFreeFile(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, Options{})
	fillAndUpdate(t, s, 1000, 5, 1536)
	rev, _ := s.CurrentRevision(ctx)
	if err := s.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	want, _, _ := s.List(ctx, "/", 0)
	before := fileSize(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	after := fileSize(t, s2)
	if after*2 > before {
		t.Fatalf("reopened file %d bytes, want Open to have defragmented %d bytes of mostly free pages", after, before)
	}
	assertSameList(t, s2, "/", 0, want)
	if got, _ := s2.CompactedRevision(ctx); got != rev {
		t.Fatalf("CompactedRevision %d after defragmenting Open, want %d", got, rev)
	}
}

// TestOpenResumesCompaction simulates a crash after a compaction recorded
// its revision but before it deleted anything.
func TestOpenResumesCompaction(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t, Options{})
	for i := 0; i < 20; i++ {
		if _, err := s.Create(ctx, fmt.Sprintf("/k/%d", i%4), nil); err == nil {
			continue
		}
		kv, _ := s.Get(ctx, fmt.Sprintf("/k/%d", i%4))
		if _, err := s.Update(ctx, kv.Key, []byte(fmt.Sprint(i)), kv.ModRevision); err != nil {
			t.Fatal(err)
		}
	}
	want, rev, _ := s.List(ctx, "/", 0)
	err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaCompacted, encodeInt(rev))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := countRecords(t, s2); n != 4 {
		t.Fatalf("%d history records after resumed compaction, want 4", n)
	}
	assertSameList(t, s2, "/", 0, want)
}

// TestDefragmentUnderLoad runs Defragment while writers, readers and a
// watcher are busy; nothing may fail or be lost.
func TestDefragmentUnderLoad(t *testing.T) {
	ctx := t.Context()
	s, _ := openTest(t, Options{})
	ch, err := s.Watch(ctx, "/", 1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fill(ctx, s, 400, 2, 512) }()
	for i := 0; i < 3; i++ {
		if err := s.Defragment(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.List(ctx, "/", 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	final, _ := s.CurrentRevision(ctx)
	next := int64(1)
	for next <= final {
		resp := <-ch
		if resp.Err != nil {
			t.Fatal(resp.Err)
		}
		for _, ev := range resp.Events {
			if ev.KV.ModRevision != next {
				t.Fatalf("watch got revision %d, want %d", ev.KV.ModRevision, next)
			}
			next++
		}
	}
}
