package imagegc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

const gib = 1 << 30

// fakeRuntime holds images on a filesystem of fixed capacity whose
// available space grows by each removed image's size.
type fakeRuntime struct {
	mu        sync.Mutex
	images    map[string]Image
	inUse     map[string]bool
	capacity  uint64
	available uint64
	removed   []string
	failOn    string
}

func newFake(capacity, available uint64, images ...Image) *fakeRuntime {
	f := &fakeRuntime{images: map[string]Image{}, inUse: map[string]bool{}, capacity: capacity, available: available}
	for _, img := range images {
		f.images[img.ID] = img
	}
	return f
}

func (f *fakeRuntime) ListImages(context.Context) ([]Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Image
	for _, img := range f.images {
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) RemoveImage(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == f.failOn {
		return errors.New("image is busy")
	}
	if img, ok := f.images[id]; ok {
		f.available += img.Size
		delete(f.images, id)
		f.removed = append(f.removed, id)
	}
	return nil
}

func (f *fakeRuntime) ImageFsStats(context.Context) (FsStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FsStats{CapacityBytes: f.capacity, AvailableBytes: f.available}, nil
}

func (f *fakeRuntime) ImagesInUse(context.Context) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for k, v := range f.inUse {
		out[k] = v
	}
	return out, nil
}

func (f *fakeRuntime) setInUse(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inUse = map[string]bool{}
	for _, n := range names {
		f.inUse[n] = true
	}
}

func (f *fakeRuntime) removedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.removed...)
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newManager(t *testing.T, rt Runtime, clock *testingclock.FakeClock, pinned ...string) *Manager {
	t.Helper()
	m, err := New(Config{Runtime: rt, Clock: clock, Pinned: pinned, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func img(id string, size uint64, tags ...string) Image {
	return Image{ID: id, Size: size, RepoTags: tags}
}

// Under the high threshold nothing is removed, however old the images.
func TestBelowThresholdKeepsImages(t *testing.T) {
	rt := newFake(100*gib, 16*gib, img("a", 10*gib)) // 84% used
	clock := testingclock.NewFakeClock(t0)
	m := newManager(t, rt, clock)
	for i := 0; i < 3; i++ {
		if err := m.GarbageCollect(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.Step(time.Hour)
	}
	if r := rt.removedIDs(); len(r) != 0 {
		t.Errorf("removed %v under the threshold", r)
	}
}

// Over the threshold, unused images older than MinAge go least recently
// used first until usage is at the low threshold; images in use (by ID or
// by tag), pinned ones and young ones stay.
func TestCollectsLeastRecentlyUsedFirst(t *testing.T) {
	rt := newFake(100*gib, 30*gib,
		img("sha256:used-long-ago", 3*gib, "example.com/old:1"),
		img("sha256:used-recently", 3*gib, "example.com/recent:1"),
		img("sha256:never-used", 3*gib, "example.com/never:1"),
		img("sha256:running", 3*gib, "example.com/running:1"),
		img("sha256:pause", 3*gib, "skiff.local/pause:1"),
		img("sha256:pinned-by-runtime", 3*gib),
	)
	rt.images["sha256:pinned-by-runtime"] = Image{ID: "sha256:pinned-by-runtime", Size: 3 * gib, Pinned: true}
	clock := testingclock.NewFakeClock(t0)
	m := newManager(t, rt, clock, "skiff.local/pause:1")
	ctx := context.Background()

	rt.setInUse("sha256:used-long-ago", "example.com/running:1")
	mustCollect(t, m)
	clock.Step(time.Minute)
	rt.setInUse("sha256:used-recently", "example.com/running:1")
	mustCollect(t, m)
	clock.Step(2 * time.Minute)
	rt.setInUse("example.com/running:1")
	// A young image: first seen now, so kept whatever its use.
	rt.images["sha256:young"] = img("sha256:young", 3*gib)
	rt.available = 12 * gib // 88% used: free 20 - 12 = 8 GiB
	if err := m.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"sha256:never-used", "sha256:used-long-ago", "sha256:used-recently"}
	if got := rt.removedIDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("removed %v, want %v (never used, then least recently used, until 8GiB are free)", got, want)
	}
}

// Freeing stops as soon as enough is free.
func TestCollectStopsAtLowThreshold(t *testing.T) {
	rt := newFake(100*gib, 14*gib, img("a", 4*gib), img("b", 4*gib), img("c", 4*gib)) // 86%: free 6 GiB
	clock := testingclock.NewFakeClock(t0)
	m := newManager(t, rt, clock)
	mustCollect(t, m)
	clock.Step(DefaultMinAge)
	mustCollect(t, m)
	if got := rt.removedIDs(); len(got) != 2 {
		t.Errorf("removed %v, want two 4GiB images for 6GiB", got)
	}
}

// Not enough eligible space is an error naming both amounts; a failed
// removal is reported but does not stop the others.
func TestCollectReportsShortfall(t *testing.T) {
	rt := newFake(100*gib, 5*gib, img("a", gib), img("b", gib), img("c", gib))
	rt.failOn = "b"
	clock := testingclock.NewFakeClock(t0)
	m := newManager(t, rt, clock)
	mustCollect(t, m) // everything is young: nothing eligible...
	clock.Step(DefaultMinAge)
	err := m.GarbageCollect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "image is busy") {
		t.Errorf("err = %v, want the failed removal", err)
	}
	if got := rt.removedIDs(); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("removed %v, want a and c", got)
	}
	rt.failOn = ""
	rt.available = 5 * gib
	err = m.GarbageCollect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "wanted to free 16106127360 bytes, but only 1073741824") {
		t.Errorf("err = %v, want the shortfall", err)
	}
}

func mustCollect(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.GarbageCollect(context.Background()); err != nil && !strings.Contains(err.Error(), "eligible") {
		t.Fatal(err)
	}
}

func TestConfigValidation(t *testing.T) {
	rt := newFake(1, 1)
	for _, c := range []Config{
		{},
		{Runtime: rt, HighThresholdPercent: 70, LowThresholdPercent: 80},
		{Runtime: rt, HighThresholdPercent: 101},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	m, err := New(Config{Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	if c := m.cfg; c.HighThresholdPercent != 85 || c.LowThresholdPercent != 80 || c.MinAge != 2*time.Minute || c.Period != 5*time.Minute {
		t.Errorf("defaults %+v", c)
	}
}

// Run collects at once and then every Period.
func TestRunCollectsEveryPeriod(t *testing.T) {
	rt := newFake(100*gib, 5*gib, img("a", 30*gib))
	clock := testingclock.NewFakeClock(t0)
	m := newManager(t, rt, clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// The first collection records the image; a period later it is old
	// enough to go.
	for !clock.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clock.Step(DefaultPeriod)
	deadline := time.Now().Add(10 * time.Second)
	for len(rt.removedIDs()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("image not removed after one period")
		}
		time.Sleep(time.Millisecond)
	}
}
