package bolt

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/internal/storage"
)

// FuzzKeys checks that arbitrary byte strings work as keys and prefixes:
// they round-trip through Create, Get, List (latest and historical) and
// Delete, and List(prefix) returns exactly the keys with that prefix.
//
// Each fuzz worker process opens one store and every iteration leaves it
// empty, so iterations stay cheap and independent. The store skips fsync
// (an option only tests in this package can set): key handling does not
// depend on it, and with it each iteration cost several milliseconds.
func FuzzKeys(f *testing.F) {
	f.Add([]byte("/a"), []byte("/a/b"), []byte("/ab"), []byte("/a"))
	f.Add([]byte("/a/b/1"), []byte("/a/bc/x"), []byte("/a/b"), []byte("/a/b/"))
	f.Add([]byte{0}, []byte{0xff, 0xff}, []byte{}, []byte{0xff})
	f.Add([]byte("same"), []byte("same"), []byte("sam"), []byte(""))
	s, _ := openTest(f, Options{noFsync: true})
	f.Fuzz(func(t *testing.T, k1, k2, k3, prefix []byte) {
		emptyStore(t, s)
		want := map[string]string{}
		for i, k := range [][]byte{k1, k2, k3} {
			key, value := string(k), string(rune('a'+i))+string(k)
			_, err := s.Create(t.Context(), key, []byte(value))
			_, exists := want[key]
			switch {
			case len(key) == 0 || len(key) > MaxKeySize:
				if !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("Create of %d-byte key: %v, want ErrInvalidKey", len(key), err)
				}
			case exists:
				if !errors.Is(err, storage.ErrKeyExists) {
					t.Fatalf("second Create of %q: %v, want ErrKeyExists", key, err)
				}
			case err != nil:
				t.Fatalf("Create %q: %v", key, err)
			default:
				want[key] = value
			}
		}
		for key, value := range want {
			kv, err := s.Get(t.Context(), key)
			if err != nil || kv.Key != key || string(kv.Value) != value {
				t.Fatalf("Get %q: %+v, %v; want value %q", key, kv, err, value)
			}
		}
		afterCreates := expectKeys(t, s, string(prefix), 0, want)
		expectKeys(t, s, "", 0, want)

		for key := range want {
			if _, _, err := s.Delete(t.Context(), key, 0); err != nil {
				t.Fatalf("Delete %q: %v", key, err)
			}
			if _, err := s.Get(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get %q after Delete: %v, want ErrNotFound", key, err)
			}
		}
		expectKeys(t, s, string(prefix), 0, nil)
		// The state before the deletes is still there in history.
		expectKeys(t, s, string(prefix), afterCreates, want)
	})
}

// expectKeys checks List(prefix, rev) returns exactly the keys of want that
// have prefix, sorted, with their values, and returns the list's revision.
func expectKeys(t *testing.T, s *Store, prefix string, rev int64, want map[string]string) int64 {
	t.Helper()
	var keys []string
	for k := range want {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	got, listRev, err := s.List(t.Context(), prefix, rev)
	if err != nil {
		t.Fatalf("List %q at %d: %v", prefix, rev, err)
	}
	if len(got) != len(keys) {
		t.Fatalf("List %q at %d: %d keys, want %q", prefix, rev, len(got), keys)
	}
	for i, kv := range got {
		if kv.Key != keys[i] || string(kv.Value) != want[keys[i]] {
			t.Fatalf("List %q at %d: [%d] = %q=%q, want %q=%q", prefix, rev, i, kv.Key, kv.Value, keys[i], want[keys[i]])
		}
	}
	return listRev
}

// emptyStore deletes every key, so an iteration starts from nothing even
// after a failed one (the fuzzer re-runs failures while minimizing).
func emptyStore(t *testing.T, s *Store) {
	t.Helper()
	all, _, err := s.List(t.Context(), "", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, kv := range all {
		if _, _, err := s.Delete(t.Context(), kv.Key, 0); err != nil {
			t.Fatalf("Delete %q: %v", kv.Key, err)
		}
	}
}
