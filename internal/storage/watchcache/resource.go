package watchcache

import (
	"errors"
	"strings"

	"github.com/skiff-sh/skiff/internal/storage"
)

// ErrTooOld means the cache no longer holds the history a watch asked to
// resume from; the caller may fall back to the store's history.
var ErrTooOld = errors.New("resource version too old for the watch cache")

// EventType is what happened to an object, in the watch protocol's terms.
type EventType string

const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Bookmark EventType = "BOOKMARK"
)

// Event is one change as a watcher sees it. Prev is the version before the
// change (nil for Added) and is used to turn label-selector transitions into
// the events upstream sends. InitialEnd marks the bookmark that closes the
// initial events of a sendInitialEvents watch.
type Event struct {
	Type       EventType
	Object     *Object
	Prev       *Object
	Rev        int64
	InitialEnd bool
}

// Resource is the cached state of one resource (one store prefix).
type Resource struct {
	cache  *Cache
	prefix string
	decode Decoder

	// Guarded by cache.mu.
	items       map[string]*Object
	history     []Event
	historyFrom int64 // history holds every event with Rev > historyFrom
	watchers    map[*Watcher]struct{}
}

// Prefix is the store prefix of the resource.
func (r *Resource) Prefix() string { return r.prefix }

// Decode turns a stored value of this resource into an Object.
func (r *Resource) Decode(key string, value []byte, rev int64) (*Object, error) {
	return r.decode(key, value, rev)
}

// Get returns the cached object at key and the cache revision.
func (r *Resource) Get(key string) (*Object, int64, bool) {
	r.cache.mu.RLock()
	defer r.cache.mu.RUnlock()
	o, ok := r.items[key]
	return o, r.cache.rev, ok
}

// List returns the objects whose keys start with prefix and that pass
// filter, sorted by key, with the revision they reflect.
func (r *Resource) List(prefix string, filter Filter) ([]*Object, int64) {
	r.cache.mu.RLock()
	out := make([]*Object, 0, len(r.items))
	for k, o := range r.items {
		if strings.HasPrefix(k, prefix) && filter(o) {
			out = append(out, o)
		}
	}
	rev := r.cache.rev
	r.cache.mu.RUnlock()
	sortObjects(out)
	return out, rev
}

// Count returns how many objects are cached.
func (r *Resource) Count() int {
	r.cache.mu.RLock()
	defer r.cache.mu.RUnlock()
	return len(r.items)
}

// unsafeApply records one store event and fans it out; cache.mu is held.
func (r *Resource) unsafeApply(t storage.EventType, obj *Object) {
	prev := r.items[obj.Key]
	ev := Event{Object: obj, Prev: prev, Rev: obj.Rev}
	switch {
	case t == storage.EventDelete:
		if prev == nil {
			return
		}
		delete(r.items, obj.Key)
		ev.Type = Deleted
	case prev == nil:
		r.items[obj.Key] = obj
		ev.Type = Added
	default:
		r.items[obj.Key] = obj
		ev.Type = Modified
	}
	r.unsafeRecord(ev)
	for w := range r.watchers {
		if !w.unsafeDeliver(ev) {
			delete(r.watchers, w)
		}
	}
}

func (r *Resource) unsafeRecord(ev Event) {
	limit := r.cache.cfg.HistorySize
	if len(r.history) >= limit {
		// Drop the oldest quarter at once so trimming is amortized.
		drop := limit / 4
		if drop == 0 {
			drop = 1
		}
		r.historyFrom = r.history[drop-1].Rev
		n := copy(r.history, r.history[drop:])
		clear(r.history[n:])
		r.history = r.history[:n]
	}
	r.history = append(r.history, ev)
}
