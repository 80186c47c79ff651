package bolt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.etcd.io/bbolt"

	"github.com/skiff-sh/skiff/internal/storage"
)

// ErrWatcherTooSlow ends a watch whose consumer fell more than
// Options.WatchBufferSize events behind. The consumer must list and watch
// again, as after a compaction.
var ErrWatcherTooSlow = errors.New("watcher fell too far behind")

// replayBatch bounds how many history records one replay read transaction
// visits, so a watcher starting from far back does not hold a read
// transaction (and with it bbolt's pages) for the whole history.
const replayBatch = 1000

// hub fans committed events out to watchers. The committer publishes each
// group commit's events under mu, in revision order; watchers never run
// under mu, so a slow consumer costs the committer only a slice append.
type hub struct {
	// current and compacted are what callers see; they are written under mu
	// (so a new watcher's start point and the ring agree) and read without it.
	current   atomic.Int64
	compacted atomic.Int64

	mu       sync.Mutex
	ring     eventRing
	watchers map[*watcher]struct{}
	closeErr error // set by close; no watcher is added after
	bufSize  int
}

func newHub(ringSize, bufSize int, current, compacted int64) *hub {
	h := &hub{
		ring:     eventRing{buf: make([]storage.Event, ringSize), next: current + 1},
		watchers: make(map[*watcher]struct{}),
		bufSize:  bufSize,
	}
	h.current.Store(current)
	h.compacted.Store(compacted)
	return h
}

// publish records one group commit's events, which are in revision order
// and continue exactly where the previous publish ended.
func (h *hub) publish(events []storage.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range events {
		h.ring.push(ev)
	}
	h.current.Store(events[len(events)-1].KV.ModRevision)
	for w := range h.watchers {
		if !w.deliver(events, h.bufSize) {
			delete(h.watchers, w)
		}
	}
}

func (h *hub) setCompacted(rev int64) {
	h.mu.Lock()
	h.compacted.Store(rev)
	h.mu.Unlock()
}

// trySync makes w a live watcher if the ring still holds every event from
// rev on; w then gets those events as its backlog. It reports false when w
// must keep reading history from disk.
func (h *hub) trySync(w *watcher, rev int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closeErr != nil {
		w.fail(h.closeErr)
		return true
	}
	backlog, ok := h.ring.since(rev, w.prefix)
	if !ok {
		return false
	}
	w.mu.Lock()
	w.minRev = rev
	w.backlog = backlog
	w.mu.Unlock()
	h.watchers[w] = struct{}{}
	w.signal()
	return true
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

// close ends every watcher with err.
func (h *hub) close(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closeErr = err
	for w := range h.watchers {
		w.fail(err)
		delete(h.watchers, w)
	}
}

// eventRing holds the most recent events. Every revision is exactly one
// event, so the events it holds are the contiguous range
// [next-n, next-1] and an event is found by arithmetic, not search.
type eventRing struct {
	buf   []storage.Event
	start int   // index of the oldest event
	n     int   // events held
	next  int64 // revision of the next event (current + 1)
}

func (r *eventRing) push(ev storage.Event) {
	if len(r.buf) == 0 {
		r.next = ev.KV.ModRevision + 1
		return
	}
	if r.n == len(r.buf) {
		r.buf[r.start] = ev
		r.start = (r.start + 1) % len(r.buf)
	} else {
		r.buf[(r.start+r.n)%len(r.buf)] = ev
		r.n++
	}
	r.next = ev.KV.ModRevision + 1
}

// since returns the held events under prefix with revision >= from, and
// false if some of them have already left the ring. A from beyond the
// newest event is fine: nothing has happened yet.
func (r *eventRing) since(from int64, prefix string) ([]storage.Event, bool) {
	oldest := r.next - int64(r.n)
	if from < oldest {
		return nil, false
	}
	var out []storage.Event
	for i := from - oldest; i < int64(r.n); i++ {
		ev := r.buf[(r.start+int(i))%len(r.buf)]
		if strings.HasPrefix(ev.KV.Key, prefix) {
			out = append(out, ev)
		}
	}
	return out, true
}

// watcher is one Watch call. Its goroutine is the only sender on out.
type watcher struct {
	prefix string
	out    chan storage.WatchResponse
	notify chan struct{} // capacity 1: "there is something to take"

	mu sync.Mutex
	// minRev is the first revision the consumer has not been sent; live
	// events below it were already replayed from disk.
	minRev int64
	// backlog is the ring's history handed over at sync time. It is
	// bounded by the ring size and does not count against the buffer.
	backlog []storage.Event
	// pending holds live events not yet taken by the goroutine; more than
	// the buffer size ends the watch.
	pending []storage.Event
	err     error // the watch's end, sent after anything taken before it
}

// deliver queues the events w wants. Called by the hub under its lock; it
// never blocks. It reports false once w has ended.
func (w *watcher) deliver(events []storage.Event, bufSize int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false
	}
	added := false
	for _, ev := range events {
		if ev.KV.ModRevision < w.minRev || !strings.HasPrefix(ev.KV.Key, w.prefix) {
			continue
		}
		w.pending = append(w.pending, ev)
		added = true
	}
	if len(w.pending) > bufSize {
		// The consumer has to relist anyway, so the queued events are
		// dropped rather than held for it.
		w.err = fmt.Errorf("%d events queued: %w", len(w.pending), ErrWatcherTooSlow)
		w.pending, w.backlog = nil, nil
		w.signal()
		return false
	}
	if added {
		w.signal()
	}
	return true
}

// fail ends the watch with err after what has been queued.
func (w *watcher) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.signal()
}

func (w *watcher) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// take returns everything queued, in revision order, and the end if any.
func (w *watcher) take() ([]storage.Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	events := w.backlog
	if len(w.pending) > 0 {
		events = append(events, w.pending...)
	}
	w.backlog, w.pending = nil, nil
	return events, w.err
}

func (w *watcher) send(ctx context.Context, resp storage.WatchResponse) bool {
	select {
	case w.out <- resp:
		return true
	case <-ctx.Done():
		return false
	}
}

// Watch streams writes under prefix from fromRev on. A start inside the
// event ring is served from memory; an older one (but not older than the
// compacted revision) is replayed from the revisions bucket first.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan storage.WatchResponse, error) {
	if err := s.checkCall(ctx); err != nil {
		return nil, err
	}
	if fromRev < 0 {
		return nil, fmt.Errorf("watch %q: %w", prefix, errNegativeRevision)
	}
	w := &watcher{
		prefix: prefix,
		out:    make(chan storage.WatchResponse),
		notify: make(chan struct{}, 1),
	}
	h := s.hub
	h.mu.Lock()
	if h.closeErr != nil {
		h.mu.Unlock()
		return nil, h.closeErr
	}
	if compacted := h.compacted.Load(); fromRev < compacted && fromRev != 0 {
		h.mu.Unlock()
		return nil, fmt.Errorf("watch %q from %d, compacted %d: %w", prefix, fromRev, compacted, storage.ErrCompacted)
	}
	start := fromRev
	if start == 0 {
		start = h.current.Load() + 1
	}
	h.mu.Unlock()
	// trySync takes the lock again; between the two, the ring can only
	// move forward, which trySync handles by falling back to disk.
	synced := h.trySync(w, start)
	go s.runWatcher(ctx, w, synced, start)
	return w.out, nil
}

func (s *Store) runWatcher(ctx context.Context, w *watcher, synced bool, start int64) {
	defer close(w.out)
	defer s.hub.remove(w)
	if !synced {
		if err := s.replay(ctx, w, start); err != nil {
			if ctx.Err() == nil {
				w.send(ctx, storage.WatchResponse{Err: err})
			}
			return
		}
	}
	for {
		select {
		case <-w.notify:
		case <-ctx.Done():
			return
		}
		events, err := w.take()
		if len(events) > 0 && !w.send(ctx, storage.WatchResponse{Events: events}) {
			return
		}
		if err != nil {
			w.send(ctx, storage.WatchResponse{Err: err})
			return
		}
	}
}

// replay sends history from disk starting at rev until the ring covers the
// rest, then leaves w registered with the hub.
func (s *Store) replay(ctx context.Context, w *watcher, rev int64) error {
	for {
		events, next, err := s.readHistory(w.prefix, rev)
		if err != nil {
			return fmt.Errorf("watch %q: replay from %d: %w", w.prefix, rev, err)
		}
		if len(events) > 0 && !w.send(ctx, storage.WatchResponse{Events: events}) {
			return ctx.Err()
		}
		rev = next
		if s.hub.trySync(w, rev) {
			return nil
		}
	}
}

// readHistory reads up to replayBatch records from rev on and returns the
// events under prefix and the revision to continue from.
func (s *Store) readHistory(prefix string, rev int64) ([]storage.Event, int64, error) {
	var events []storage.Event
	next := rev
	err := s.view(func(tx *bbolt.Tx) error {
		if m := readMeta(tx); rev < m.compacted {
			return fmt.Errorf("compacted %d: %w", m.compacted, storage.ErrCompacted)
		}
		c := tx.Bucket(bucketRevisions).Cursor()
		visited := 0
		for k, v := c.Seek(revKey(rev)); k != nil && visited < replayBatch; k, v = c.Next() {
			visited++
			next = decodeRevKey(k) + 1
			key, ok := recordKey(v)
			if !ok {
				return ErrCorrupt
			}
			if !hasPrefix(key, []byte(prefix)) {
				continue
			}
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			events = append(events, rec.event(next-1))
		}
		return nil
	})
	return events, next, err
}
