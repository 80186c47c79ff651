package admission

import (
	"context"
	"testing"
)

type item struct{ name string }

func TestNamespaceLister(t *testing.T) {
	synced := false
	cache := map[string][]*item{}
	lives := 0
	l := NewNamespaceLister(func() bool { return synced },
		func(ns string) ([]*item, error) { return cache[ns], nil },
		func(_ context.Context, ns string) ([]*item, error) {
			lives++
			return []*item{{name: "live-" + ns}}, nil
		})
	ctx := context.Background()
	// Not synced: a live list, reused for the next lookup.
	for range 2 {
		got, err := l.List(ctx, "a")
		if err != nil || len(got) != 1 || got[0].name != "live-a" {
			t.Fatalf("unsynced List = %v, %v", got, err)
		}
	}
	if lives != 1 {
		t.Errorf("%d live lists for two lookups within the TTL, want 1", lives)
	}
	// Synced and the cache holds objects: no live list.
	synced = true
	cache["b"] = []*item{{name: "cached"}}
	if got, _ := l.List(ctx, "b"); len(got) != 1 || got[0].name != "cached" || lives != 1 {
		t.Errorf("synced List = %v after %d live lists, want the cached item and no new list", got, lives)
	}
	// Synced but the cache holds none (it may lag): live list.
	if got, _ := l.List(ctx, "c"); len(got) != 1 || got[0].name != "live-c" || lives != 2 {
		t.Errorf("empty-cache List = %v after %d live lists, want a live list", got, lives)
	}
	// The caller owns the returned slice.
	got, _ := l.List(ctx, "a")
	got[0] = nil
	if again, _ := l.List(ctx, "a"); again[0] == nil {
		t.Error("a caller's write reached the lister's cache")
	}
}
