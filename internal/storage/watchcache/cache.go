package watchcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/internal/storage"
)

// ErrTooLargeResourceVersion is returned when a caller waits for a revision
// the cache does not reach in time.
var ErrTooLargeResourceVersion = errors.New("too large resource version")

// Config tunes a Cache.
type Config struct {
	// Prefix is the store prefix every registered resource lives under.
	Prefix string
	// HistorySize is how many events each resource keeps for watches that
	// resume from an older revision.
	HistorySize int
	// BookmarkInterval is how often watchers that asked for bookmarks get
	// one when the revision has moved.
	BookmarkInterval time.Duration
	// WatcherBuffer is each client watcher's queue length.
	WatcherBuffer int
}

// Cache holds every registered resource in memory, fed by one store watch.
type Cache struct {
	store storage.Store
	cfg   Config
	log   *slog.Logger

	// mu guards everything below and every Resource's items, history and
	// watchers. The dispatcher holds it for writing while it applies a
	// batch; readers hold it for reading while they snapshot.
	mu        sync.RWMutex
	rev       int64
	revChange chan struct{} // closed and replaced whenever rev moves
	resources map[string]*Resource
	ready     bool
}

// New returns a Cache over store. Register resources, then Start it.
func New(store storage.Store, cfg Config, log *slog.Logger) *Cache {
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = 4096
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = 2 * time.Second
	}
	if cfg.WatcherBuffer <= 0 {
		cfg.WatcherBuffer = 1000
	}
	return &Cache{
		store:     store,
		cfg:       cfg,
		log:       log,
		revChange: make(chan struct{}),
		resources: map[string]*Resource{},
	}
}

// Register adds a resource whose keys start with prefix (which must end in
// "/" and lie under Config.Prefix). It must be called before Start.
func (c *Cache) Register(prefix string, decode Decoder) *Resource {
	r := &Resource{cache: c, prefix: prefix, decode: decode, items: map[string]*Object{}, watchers: map[*Watcher]struct{}{}}
	c.mu.Lock()
	c.resources[prefix] = r
	c.mu.Unlock()
	return r
}

// Start loads every resource at one revision and starts following the store.
// It returns once the cache serves reads; the dispatcher runs until ctx ends.
func (c *Cache) Start(ctx context.Context) error {
	rev, err := c.load(ctx)
	if err != nil {
		return err
	}
	go c.run(ctx, rev)
	go c.bookmarks(ctx)
	return nil
}

// load lists every resource at the store's current revision and replaces
// the cache contents with it.
func (c *Cache) load(ctx context.Context) (int64, error) {
	rev, err := c.store.CurrentRevision(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading store revision: %w", err)
	}
	kvs, _, err := c.store.List(ctx, c.cfg.Prefix, rev)
	if err != nil {
		return 0, fmt.Errorf("listing %s at %d: %w", c.cfg.Prefix, rev, err)
	}
	loaded := map[*Resource]map[string]*Object{}
	for _, kv := range kvs {
		r := c.resourceFor(kv.Key)
		if r == nil {
			continue
		}
		obj, err := r.decode(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			c.log.Error("skipping undecodable stored object", "key", kv.Key, "err", err)
			continue
		}
		if loaded[r] == nil {
			loaded[r] = map[string]*Object{}
		}
		loaded[r][kv.Key] = obj
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.resources {
		r.items = loaded[r]
		if r.items == nil {
			r.items = map[string]*Object{}
		}
		r.history = r.history[:0]
		r.historyFrom = rev
		// Watchers cannot be carried across a reload: their next event
		// might be missing. End them so clients re-watch.
		for w := range r.watchers {
			w.stop(errors.New("watch cache reloaded"))
			delete(r.watchers, w)
		}
	}
	c.unsafeSetRev(rev)
	c.ready = true
	return rev, nil
}

// resourceFor finds the resource a key belongs to: the registered prefix is
// the key up to its third slash after Config.Prefix ("/registry/core/pods/").
func (c *Cache) resourceFor(key string) *Resource {
	rest := strings.TrimPrefix(key, c.cfg.Prefix)
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil
	}
	j := strings.IndexByte(rest[i+1:], '/')
	if j < 0 {
		return nil
	}
	return c.resources[key[:len(c.cfg.Prefix)+i+1+j+1]]
}

// run follows the store from rev+1, reloading when the watch breaks.
func (c *Cache) run(ctx context.Context, rev int64) {
	for ctx.Err() == nil {
		err := c.follow(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("store watch ended; reloading the watch cache", "err", err)
		for ctx.Err() == nil {
			if rev, err = c.load(ctx); err == nil {
				break
			}
			c.log.Error("reloading watch cache", "err", err)
			time.Sleep(time.Second)
		}
	}
}

func (c *Cache) follow(ctx context.Context, rev int64) error {
	ch, err := c.store.Watch(ctx, c.cfg.Prefix, rev+1)
	if err != nil {
		return err
	}
	for resp := range ch {
		if resp.Err != nil {
			return resp.Err
		}
		c.apply(resp.Events)
	}
	return ctx.Err()
}

// apply decodes outside the lock, then applies and fans out under it.
func (c *Cache) apply(events []storage.Event) {
	type decoded struct {
		r   *Resource
		ev  storage.Event
		obj *Object
	}
	batch := make([]decoded, 0, len(events))
	for _, ev := range events {
		r := c.resourceFor(ev.KV.Key)
		var obj *Object
		if r != nil {
			var err error
			obj, err = r.decode(ev.KV.Key, ev.KV.Value, ev.KV.ModRevision)
			if err != nil {
				c.log.Error("skipping undecodable stored object", "key", ev.KV.Key, "rev", ev.KV.ModRevision, "err", err)
				r = nil
			}
		}
		batch = append(batch, decoded{r: r, ev: ev, obj: obj})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range batch {
		if d.r != nil {
			d.r.unsafeApply(d.ev.Type, d.obj)
		}
		c.unsafeSetRev(d.ev.KV.ModRevision)
	}
}

func (c *Cache) unsafeSetRev(rev int64) {
	if rev <= c.rev {
		return
	}
	c.rev = rev
	close(c.revChange)
	c.revChange = make(chan struct{})
}

// Revision is the revision the cache reflects.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// WaitForRevision blocks until the cache reflects rev, ctx ends, or timeout
// passes (ErrTooLargeResourceVersion).
func (c *Cache) WaitForRevision(ctx context.Context, rev int64, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.RLock()
		cur, ch := c.rev, c.revChange
		c.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("%w: waited for %d, cache is at %d", ErrTooLargeResourceVersion, rev, cur)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitForFresh waits until the cache reflects every write the store has
// acknowledged, which makes a read from the cache consistent.
func (c *Cache) WaitForFresh(ctx context.Context) error {
	rev, err := c.store.CurrentRevision(ctx)
	if err != nil {
		return fmt.Errorf("reading store revision: %w", err)
	}
	return c.WaitForRevision(ctx, rev, 10*time.Second)
}

// bookmarks periodically tells bookmark-wanting watchers the current revision.
func (c *Cache) bookmarks(ctx context.Context) {
	t := time.NewTicker(c.cfg.BookmarkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for _, r := range c.resources {
				for w := range r.watchers {
					w.stop(nil)
					delete(r.watchers, w)
				}
			}
			c.mu.Unlock()
			return
		case <-t.C:
		}
		c.mu.Lock()
		for _, r := range c.resources {
			for w := range r.watchers {
				if w.bookmarks && w.told < c.rev && !w.unsafeSend(Event{Type: Bookmark, Rev: c.rev}) {
					delete(r.watchers, w)
				}
			}
		}
		c.mu.Unlock()
	}
}

func sortObjects(objs []*Object) {
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
}
