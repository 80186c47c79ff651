package garbagecollector

import "sync"

// absentOwnersCapacity bounds the cache; upstream keeps 500 too.
const absentOwnersCapacity = 500

// absentOwners remembers owners a GET found missing, so that the many
// dependents of one deleted owner cost one request, not one each. A uid
// never comes back, so an entry never goes stale; the cache only forgets
// to stay small.
type absentOwners struct {
	mu sync.Mutex
	// order is insertion order, for evicting the oldest entry.
	order []objectRef
	set   map[objectRef]struct{}
}

func newAbsentOwners() *absentOwners {
	return &absentOwners{set: map[objectRef]struct{}{}}
}

func (a *absentOwners) add(r objectRef) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.set[r]; ok {
		return
	}
	if len(a.order) >= absentOwnersCapacity {
		delete(a.set, a.order[0])
		a.order = a.order[1:]
	}
	a.order = append(a.order, r)
	a.set[r] = struct{}{}
}

func (a *absentOwners) has(r objectRef) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.set[r]
	return ok
}
