package watchcache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage"
	"github.com/skiff-sh/skiff/internal/storage/bolt"
	"github.com/skiff-sh/skiff/internal/storage/watchcache"
)

const prefix = "/registry/core/configmaps/"

func decode(key string, value []byte, rev int64) (*watchcache.Object, error) {
	dec := func() (runtime.Object, error) {
		var cm corev1.ConfigMap
		if err := json.Unmarshal(value, &cm); err != nil {
			return nil, err
		}
		cm.ResourceVersion = fmt.Sprint(rev)
		return &cm, nil
	}
	obj, err := dec()
	if err != nil {
		return nil, err
	}
	cm := obj.(*corev1.ConfigMap)
	return watchcache.NewObject(key, rev, value, cm.Labels, map[string]string{"metadata.name": cm.Name}, dec), nil
}

func value(name, color string) []byte {
	b, _ := json.Marshal(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"color": color}}})
	return b
}

type fixture struct {
	store storage.Store
	cache *watchcache.Cache
	res   *watchcache.Resource
	ctx   context.Context
}

func newFixture(t *testing.T, history int) *fixture {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := watchcache.New(store, watchcache.Config{Prefix: "/registry/", HistorySize: history, BookmarkInterval: 50 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	res := c.Register(prefix, decode)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &fixture{store: store, cache: c, res: res, ctx: ctx}
}

func (f *fixture) put(t *testing.T, name, color string) int64 {
	t.Helper()
	kv, err := f.store.Get(f.ctx, prefix+name)
	var rev int64
	if err == nil {
		rev, err = f.store.Update(f.ctx, prefix+name, value(name, color), kv.ModRevision)
	} else {
		rev, err = f.store.Create(f.ctx, prefix+name, value(name, color))
	}
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func next(t *testing.T, w *watchcache.Watcher) watchcache.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed: %v", w.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return watchcache.Event{}
}

func name(ev watchcache.Event) string { return ev.Object.Fields.Get("metadata.name") }

func TestListIsConsistentWithRevision(t *testing.T) {
	f := newFixture(t, 100)
	for i := 0; i < 10; i++ {
		f.put(t, fmt.Sprintf("cm%d", i), "red")
	}
	if err := f.cache.WaitForFresh(f.ctx); err != nil {
		t.Fatal(err)
	}
	objs, rev := f.res.List(prefix, watchcache.Everything)
	cur, _ := f.store.CurrentRevision(f.ctx)
	if len(objs) != 10 || rev != cur || name(watchcache.Event{Object: objs[0]}) != "cm0" {
		t.Fatalf("list: %d objects at %d, store at %d", len(objs), rev, cur)
	}
}

func TestWatchFilterTransitions(t *testing.T) {
	f := newFixture(t, 100)
	f.put(t, "a", "red")
	_ = f.cache.WaitForFresh(f.ctx)
	red := func(o *watchcache.Object) bool { return o.Labels.Get("color") == "red" }
	w, err := f.res.Watch(f.ctx, watchcache.WatchOptions{Initial: true, Filter: red})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := next(t, w); ev.Type != watchcache.Added || name(ev) != "a" {
		t.Fatalf("initial: %+v", ev)
	}
	f.put(t, "a", "blue") // leaves the filter: DELETED
	f.put(t, "b", "blue") // never matches: nothing
	f.put(t, "b", "red")  // enters the filter: ADDED
	f.put(t, "b", "red")  // stays: MODIFIED
	want := []string{"DELETED/a", "ADDED/b", "MODIFIED/b"}
	for _, wnt := range want {
		ev := next(t, w)
		if got := string(ev.Type) + "/" + name(ev); got != wnt {
			t.Fatalf("got %s, want %s", got, wnt)
		}
	}
}

func TestWatchResumesFromHistoryThenStore(t *testing.T) {
	f := newFixture(t, 8)
	start := f.put(t, "x", "red")
	for i := 0; i < 40; i++ {
		f.put(t, fmt.Sprintf("y%d", i), "red")
	}
	_ = f.cache.WaitForFresh(f.ctx)
	// start is older than the 8 events the cache keeps.
	if _, err := f.res.Watch(f.ctx, watchcache.WatchOptions{FromRev: start}); err != watchcache.ErrTooOld {
		t.Fatalf("want ErrTooOld, got %v", err)
	}
	w, err := f.res.WatchStore(f.ctx, watchcache.WatchOptions{FromRev: start})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := 0; i < 40; i++ {
		ev := next(t, w)
		if ev.Type != watchcache.Added || name(ev) != fmt.Sprintf("y%d", i) || ev.Rev != start+int64(i)+1 {
			t.Fatalf("event %d: %s %s rev %d", i, ev.Type, name(ev), ev.Rev)
		}
	}
	// Recent history is replayed by the cache itself, in order.
	recent := f.cache.Revision() - 3
	w2, err := f.res.Watch(f.ctx, watchcache.WatchOptions{FromRev: recent})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	for i := int64(1); i <= 3; i++ {
		if ev := next(t, w2); ev.Rev != recent+i {
			t.Fatalf("replay: rev %d, want %d", ev.Rev, recent+i)
		}
	}
}

func TestSlowWatcherIsEndedNotBlocking(t *testing.T) {
	f := newFixture(t, 100)
	store := f.store
	c := watchcache.New(store, watchcache.Config{Prefix: "/registry/", WatcherBuffer: 5}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	res := c.Register(prefix, decode)
	if err := c.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	w, err := res.Watch(f.ctx, watchcache.WatchOptions{FromRev: c.Revision()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		f.put(t, fmt.Sprintf("s%d", i), "red")
	}
	if err := c.WaitForFresh(f.ctx); err != nil {
		t.Fatalf("cache stalled behind a slow watcher: %v", err)
	}
	for range w.ResultChan() {
	}
	if w.Err() != watchcache.ErrTooSlow {
		t.Fatalf("want ErrTooSlow, got %v", w.Err())
	}
}

func TestBookmarksAdvance(t *testing.T) {
	f := newFixture(t, 100)
	w, err := f.res.Watch(f.ctx, watchcache.WatchOptions{FromRev: f.cache.Revision(), Bookmarks: true, Prefix: prefix + "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	rev := f.put(t, "other", "red") // filtered out by Prefix, but moves the revision
	ev := next(t, w)
	if ev.Type != watchcache.Bookmark || ev.Rev < rev {
		t.Fatalf("want a bookmark at >= %d, got %+v", rev, ev)
	}
}
