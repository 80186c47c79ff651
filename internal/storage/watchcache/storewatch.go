package watchcache

import (
	"context"
	"strings"

	"github.com/skiff-sh/skiff/internal/storage"
)

// WatchStore serves a watch that resumes from a revision older than the
// cache's history (typically a client reconnecting after a server restart)
// straight from the store's history, which reaches back to the last
// compaction. Store events carry no previous version, so an object that
// existed at FromRev and matches now is reported MODIFIED, and one that stops
// matching produces DELETED only if this watch has seen it match.
func (r *Resource) WatchStore(ctx context.Context, opts WatchOptions) (*Watcher, error) {
	filter := opts.Filter
	if filter == nil {
		filter = Everything
	}
	prefix := opts.Prefix
	if !strings.HasPrefix(prefix, r.prefix) {
		prefix = r.prefix
	}
	ctx, cancel := context.WithCancel(ctx)
	ch, err := r.cache.store.Watch(ctx, prefix, opts.FromRev+1)
	if err != nil {
		cancel()
		return nil, err
	}
	// Not registered with the resource: the cache never fans out to it.
	w := &Watcher{res: r, ch: make(chan Event, r.cache.cfg.WatcherBuffer), filter: filter, prefix: prefix, cancel: cancel}
	go func() {
		defer cancel()
		err := w.pump(ctx, ch, opts.FromRev)
		r.cache.mu.Lock()
		w.stop(err)
		r.cache.mu.Unlock()
	}()
	return w, nil
}

func (w *Watcher) pump(ctx context.Context, ch <-chan storage.WatchResponse, fromRev int64) error {
	seen := map[string]bool{}
	for resp := range ch {
		if resp.Err != nil {
			return resp.Err
		}
		for _, sev := range resp.Events {
			obj, err := w.res.decode(sev.KV.Key, sev.KV.Value, sev.KV.ModRevision)
			if err != nil {
				return err
			}
			ev := Event{Object: obj, Rev: obj.Rev}
			match := w.filter(obj)
			existed := seen[obj.Key] || sev.KV.CreateRevision <= fromRev
			switch {
			case sev.Type == storage.EventDelete:
				if !match && !seen[obj.Key] {
					continue
				}
				ev.Type = Deleted
				delete(seen, obj.Key)
			case match && existed:
				ev.Type = Modified
				seen[obj.Key] = true
			case match:
				ev.Type = Added
				seen[obj.Key] = true
			case seen[obj.Key]:
				ev.Type = Deleted
				delete(seen, obj.Key)
			default:
				continue
			}
			select {
			case w.ch <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return ctx.Err()
}
