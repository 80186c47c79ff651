// Package expectations tracks the creates and deletes a controller has asked
// for but not yet seen in its informer cache, so that a lagging cache never
// makes it create or delete twice. It mirrors upstream's
// ControllerExpectations: a controller records how many adds/deletes it
// expects for an owner key, the informer event handlers lower the counts,
// and the controller only syncs the owner once the counts reach zero or
// the expectations expire.
package expectations

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// TTL after which unmet expectations are ignored, so a lost event cannot
// wedge an owner forever (upstream uses 5 minutes).
const TTL = 5 * time.Minute

type record struct {
	adds, dels int64
	// deleting holds keys of objects whose deletion was requested, so a
	// delete observed twice (update with deletionTimestamp, then delete)
	// is counted once.
	deleting  sets.Set[string]
	timestamp time.Time
}

// Expectations is safe for concurrent use.
type Expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	byKey map[string]*record
}

// New returns empty expectations.
func New(c clock.PassiveClock) *Expectations {
	if c == nil {
		c = clock.RealClock{}
	}
	return &Expectations{clock: c, byKey: map[string]*record{}}
}

// Satisfied reports whether the owner may be synced: nothing is pending,
// or what is pending has expired.
func (e *Expectations) Satisfied(owner string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.byKey[owner]
	if !ok {
		return true
	}
	if r.adds <= 0 && r.dels <= 0 {
		return true
	}
	return e.clock.Since(r.timestamp) > TTL
}

// ExpectCreations records that n creates were issued for owner.
func (e *Expectations) ExpectCreations(owner string, n int) {
	e.set(owner, int64(n), 0, nil)
}

// ExpectDeletions records that the objects with the given keys are being
// deleted for owner.
func (e *Expectations) ExpectDeletions(owner string, keys []string) {
	e.set(owner, 0, int64(len(keys)), keys)
}

func (e *Expectations) set(owner string, adds, dels int64, keys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.byKey[owner]
	if !ok || (r.adds <= 0 && r.dels <= 0) {
		r = &record{deleting: sets.New[string]()}
		e.byKey[owner] = r
	}
	r.adds += adds
	r.dels += dels
	for _, k := range keys {
		// A delete expected twice before it is observed is still one
		// delete: it will be observed once.
		if r.deleting.Has(k) {
			r.dels--
		}
		r.deleting.Insert(k)
	}
	r.timestamp = e.clock.Now()
}

// CreationObserved lowers the pending creates of owner by one; call it from
// the informer's add handler, and when a create request failed.
func (e *Expectations) CreationObserved(owner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.byKey[owner]; ok && r.adds > 0 {
		r.adds--
	}
}

// DeletionObserved lowers the pending deletes of owner for the object with
// key; it is idempotent per key. Call it from the informer's delete handler
// (and update handler on deletionTimestamp), and when a delete failed.
func (e *Expectations) DeletionObserved(owner, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.byKey[owner]
	if !ok || !r.deleting.Has(key) {
		return
	}
	r.deleting.Delete(key)
	if r.dels > 0 {
		r.dels--
	}
}

// Forget drops what is recorded for owner (the owner was deleted).
func (e *Expectations) Forget(owner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, owner)
}
