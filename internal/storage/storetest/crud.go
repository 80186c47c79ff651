package storetest

import (
	"testing"

	"github.com/skiff-sh/skiff/internal/storage"
)

func testCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	rev := m.create("/a", "v1")

	kv, err := s.Get(ctx, "/a")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	assertKV(t, "Get after Create", kv, storage.KeyValue{Key: "/a", Value: []byte("v1"), CreateRevision: rev, ModRevision: rev})

	_, err = s.Create(ctx, "/a", []byte("v2"))
	assertErr(t, "Create of existing key", err, storage.ErrKeyExists)
	kv, err = s.Get(ctx, "/a")
	if err != nil || string(kv.Value) != "v1" {
		t.Fatalf("Get after failed Create: %s, %v; want the first value kept", fmtKV(kv), err)
	}

	_, err = s.Get(ctx, "/missing")
	assertErr(t, "Get of missing key", err, storage.ErrNotFound)
	if got := current(t, s); got != rev {
		t.Fatalf("CurrentRevision %d after a failed Create, want %d: failures take no revision", got, rev)
	}

	// An empty value is a value, not a missing key.
	m.create("/empty", "")
	kv, err = s.Get(ctx, "/empty")
	if err != nil || len(kv.Value) != 0 {
		t.Fatalf("Get of empty value: %s, %v", fmtKV(kv), err)
	}

	// The store must not keep the caller's buffer.
	buf := []byte("original")
	if _, err := s.Create(ctx, "/buf", buf); err != nil {
		t.Fatalf("Create: %v", err)
	}
	copy(buf, "CLOBBERD")
	if kv, err = s.Get(ctx, "/buf"); err != nil || string(kv.Value) != "original" {
		t.Fatalf("Get after caller reused its buffer: %s, %v", fmtKV(kv), err)
	}
}

func testUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	r1 := m.create("/k", "v1")
	r2 := m.update("/k", "v2")

	kv, err := s.Get(ctx, "/k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	assertKV(t, "Get after Update", kv, storage.KeyValue{Key: "/k", Value: []byte("v2"), CreateRevision: r1, ModRevision: r2})

	_, err = s.Update(ctx, "/k", []byte("stale"), r1)
	assertErr(t, "Update with stale revision", err, storage.ErrConflict)
	_, err = s.Update(ctx, "/k", []byte("zero"), 0)
	assertErr(t, "Update with revision 0", err, storage.ErrConflict)
	_, err = s.Update(ctx, "/missing", []byte("x"), r1)
	assertErr(t, "Update of missing key", err, storage.ErrNotFound)

	if kv, err = s.Get(ctx, "/k"); err != nil || string(kv.Value) != "v2" || kv.ModRevision != r2 {
		t.Fatalf("Get after failed Updates: %s, %v; want v2 at %d", fmtKV(kv), err, r2)
	}
	m.update("/k", "v3")
	m.expectList("/k", 0)
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	r1 := m.create("/k", "v1")
	m.update("/k", "v2")

	_, _, err := s.Delete(ctx, "/k", r1)
	assertErr(t, "Delete with stale revision", err, storage.ErrConflict)
	if _, err := s.Get(ctx, "/k"); err != nil {
		t.Fatalf("Get after failed Delete: %v", err)
	}

	m.del("/k", false)
	_, err = s.Get(ctx, "/k")
	assertErr(t, "Get after Delete", err, storage.ErrNotFound)
	_, _, err = s.Delete(ctx, "/k", 0)
	assertErr(t, "Delete of deleted key", err, storage.ErrNotFound)
	_, _, err = s.Delete(ctx, "/never", 0)
	assertErr(t, "Delete of missing key", err, storage.ErrNotFound)

	// A re-created key starts a new life with a new CreateRevision.
	r4 := m.create("/k", "again")
	kv, err := s.Get(ctx, "/k")
	if err != nil || kv.CreateRevision != r4 {
		t.Fatalf("Get of re-created key: %s, %v; want CreateRevision %d", fmtKV(kv), err, r4)
	}
	m.update("/k", "again2")
	m.del("/k", true) // unconditional
	m.expectList("/", 0)
}

// testRevisions checks that every successful write takes exactly the next
// revision and failed writes take none.
func testRevisions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	m := newModel(t, s)
	for i := 0; i < 5; i++ {
		key := "/r/" + string(rune('a'+i))
		m.create(key, "1")
		if _, err := s.Create(ctx, key, []byte("dup")); err == nil {
			t.Fatalf("duplicate Create of %q succeeded", key)
		}
		m.update(key, "2")
		if _, err := s.Update(ctx, key, []byte("x"), 1<<40); err == nil {
			t.Fatalf("Update of %q with a wrong revision succeeded", key)
		}
		if i%2 == 0 {
			m.del(key, i%4 == 0)
		}
		if got := current(t, s); got != m.rev {
			t.Fatalf("CurrentRevision %d, want %d", got, m.rev)
		}
	}
	m.expectList("/r/", 0)
}
