package admission

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
)

// liveTTL is how long a live list of a namespace's objects is reused, as
// upstream's LimitRanger and ResourceQuota plugins do: long enough to spare
// the API server a list per admitted object, short enough that an object
// the informer missed is seen soon. maxLiveEntries bounds that cache.
const (
	liveTTL        = 30 * time.Second
	maxLiveEntries = 10000
)

// NamespaceLister lists a namespace's objects of one kind (LimitRanges,
// ResourceQuotas) for a plugin: from the informer cache, or, while it has
// not synced or holds none for the namespace (it may lag behind an object
// created a moment ago), from a live list reused for liveTTL.
type NamespaceLister[T any] struct {
	synced cache.InformerSynced
	cached func(namespace string) ([]*T, error)
	list   func(ctx context.Context, namespace string) ([]*T, error)

	mu   sync.Mutex
	live map[string]liveEntry[T]
}

type liveEntry[T any] struct {
	expiry time.Time
	items  []*T
}

// NewNamespaceLister builds a lister over an informer (synced, cached) and
// the API (list).
func NewNamespaceLister[T any](synced cache.InformerSynced, cached func(string) ([]*T, error), list func(context.Context, string) ([]*T, error)) *NamespaceLister[T] {
	return &NamespaceLister[T]{synced: synced, cached: cached, list: list, live: map[string]liveEntry[T]{}}
}

// List returns the namespace's objects; the slice is the caller's.
func (l *NamespaceLister[T]) List(ctx context.Context, namespace string) ([]*T, error) {
	if l.synced() {
		items, err := l.cached(namespace)
		if err != nil {
			return nil, err
		}
		if len(items) > 0 {
			return items, nil
		}
	}
	now := time.Now()
	l.mu.Lock()
	e, ok := l.live[namespace]
	l.mu.Unlock()
	if ok && now.Before(e.expiry) {
		return append([]*T(nil), e.items...), nil
	}
	items, err := l.list(ctx, namespace)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if len(l.live) >= maxLiveEntries {
		clear(l.live)
	}
	l.live[namespace] = liveEntry[T]{expiry: now.Add(liveTTL), items: items}
	l.mu.Unlock()
	return append([]*T(nil), items...), nil
}

// Pointers returns pointers to the items of a list, for a live List's
// Items.
func Pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
