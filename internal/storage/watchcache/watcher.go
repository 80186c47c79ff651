package watchcache

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// ErrTooSlow ends a watcher whose client does not read fast enough.
var ErrTooSlow = errors.New("watcher fell too far behind")

// WatchOptions says where a watch starts and what it wants.
type WatchOptions struct {
	// FromRev: deliver changes with a revision above it.
	FromRev int64
	// Initial first delivers an ADDED event for every current object (and
	// then changes after the cache's current revision; FromRev is ignored).
	Initial bool
	// InitialEndBookmark follows the initial events with a bookmark marked
	// as their end (sendInitialEvents).
	InitialEndBookmark bool
	// Bookmarks asks for periodic bookmarks.
	Bookmarks bool
	// Prefix narrows the watch to keys under it (a namespace).
	Prefix string
	Filter Filter
}

// Watcher is one client watch on a Resource.
type Watcher struct {
	res       *Resource
	ch        chan Event
	filter    Filter
	prefix    string
	bookmarks bool
	// cancel ends a store-backed watcher, whose own goroutine closes ch.
	cancel context.CancelFunc

	// Guarded by the cache's mu.
	rev     int64 // events at or below it were already delivered (replay)
	told    int64 // highest revision the client has heard of, for bookmarks
	stopped bool

	errMu sync.Mutex
	err   error
}

// ResultChan delivers events until the watch ends; then Err says why.
func (w *Watcher) ResultChan() <-chan Event { return w.ch }

// Err is the reason the channel closed, nil for a normal stop.
func (w *Watcher) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	if w.cancel != nil {
		w.cancel()
		return
	}
	c := w.res.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(w.res.watchers, w)
	w.stop(nil)
}

// stop closes the channel once; the cache's mu is held.
func (w *Watcher) stop(err error) {
	if w.stopped {
		return
	}
	w.stopped = true
	w.errMu.Lock()
	w.err = err
	w.errMu.Unlock()
	close(w.ch)
}

// unsafeSend queues ev without blocking; a full queue ends the watcher.
// It reports whether the watcher is still alive.
func (w *Watcher) unsafeSend(ev Event) bool {
	if w.stopped {
		return false
	}
	select {
	case w.ch <- ev:
		w.told = ev.Rev
		return true
	default:
		w.stop(ErrTooSlow)
		return false
	}
}

// unsafeDeliver turns a resource event into what this watcher should see.
// A modification that moves an object into or out of the watcher's filter
// becomes ADDED or DELETED, as upstream's cacher does.
func (w *Watcher) unsafeDeliver(ev Event) bool {
	if ev.Rev <= w.rev {
		return true
	}
	w.rev = ev.Rev
	if !strings.HasPrefix(ev.Object.Key, w.prefix) {
		return true
	}
	cur := w.filter(ev.Object)
	prev := ev.Prev != nil && w.filter(ev.Prev)
	switch ev.Type {
	case Added:
		if !cur {
			return true
		}
	case Modified:
		switch {
		case cur && !prev:
			ev.Type = Added
		case !cur && prev:
			ev.Type = Deleted
		case !cur && !prev:
			return true
		}
	case Deleted:
		if !prev && !cur {
			return true
		}
	}
	return w.unsafeSend(ev)
}

// Watch starts a watch on the cache. It fails with ErrTooOld when FromRev is
// older than the history the cache keeps.
func (r *Resource) Watch(ctx context.Context, opts WatchOptions) (*Watcher, error) {
	filter := opts.Filter
	if filter == nil {
		filter = Everything
	}
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()

	var backlog []Event
	rev := opts.FromRev
	if opts.Initial {
		rev = c.rev
		for k, o := range r.items {
			if strings.HasPrefix(k, opts.Prefix) && filter(o) {
				backlog = append(backlog, Event{Type: Added, Object: o, Rev: o.Rev})
			}
		}
		sortEvents(backlog)
		if opts.InitialEndBookmark {
			backlog = append(backlog, Event{Type: Bookmark, Rev: rev, InitialEnd: true})
		}
	} else if rev < c.rev {
		if rev < r.historyFrom {
			return nil, ErrTooOld
		}
		// Replay through a scratch watcher so filter transitions apply.
		replay := &Watcher{ch: make(chan Event, len(r.history)), filter: filter, prefix: opts.Prefix, rev: rev}
		for _, ev := range r.history {
			replay.unsafeDeliver(ev)
		}
		close(replay.ch)
		for ev := range replay.ch {
			backlog = append(backlog, ev)
		}
		rev = c.rev
	}
	w := &Watcher{
		res:       r,
		ch:        make(chan Event, len(backlog)+c.cfg.WatcherBuffer),
		filter:    filter,
		prefix:    opts.Prefix,
		bookmarks: opts.Bookmarks,
		rev:       rev,
		told:      rev,
	}
	for _, ev := range backlog {
		w.ch <- ev
	}
	r.watchers[w] = struct{}{}
	go func() {
		<-ctx.Done()
		w.Stop()
	}()
	return w, nil
}

func sortEvents(evs []Event) {
	objs := make([]*Object, len(evs))
	for i := range evs {
		objs[i] = evs[i].Object
	}
	sortObjects(objs)
	for i := range evs {
		evs[i].Object = objs[i]
	}
}
