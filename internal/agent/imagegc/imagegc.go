package imagegc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// The kubelet's defaults.
const (
	DefaultHighThresholdPercent = 85
	DefaultLowThresholdPercent  = 80
	DefaultMinAge               = 2 * time.Minute
	DefaultPeriod               = 5 * time.Minute
)

// Image is one image the runtime holds.
type Image struct {
	// ID is the runtime's image ID ("sha256:...").
	ID string
	// RepoTags and RepoDigests are the names it is known by.
	RepoTags    []string
	RepoDigests []string
	// Size is what removing it frees, in bytes.
	Size uint64
	// Pinned images are never removed (the runtime says so, as CRI's
	// Image.pinned does for the sandbox image).
	Pinned bool
}

// FsStats is the image filesystem's size and free space, in bytes.
type FsStats struct {
	CapacityBytes  uint64
	AvailableBytes uint64
}

// Runtime is what the collector needs from the container runtime.
type Runtime interface {
	ListImages(ctx context.Context) ([]Image, error)
	// RemoveImage removes an image by ID; an image already gone is not an
	// error.
	RemoveImage(ctx context.Context, id string) error
	ImageFsStats(ctx context.Context) (FsStats, error)
	// ImagesInUse returns the images containers (of any state) refer to,
	// by ID or by name; an image matching any of them is in use.
	ImagesInUse(ctx context.Context) (map[string]bool, error)
}

// Config configures a Manager; zero fields take the kubelet's defaults.
type Config struct {
	Runtime Runtime
	// HighThresholdPercent is the image filesystem usage that starts a
	// collection; LowThresholdPercent the usage it aims for.
	HighThresholdPercent int
	LowThresholdPercent  int
	// MinAge is how long an unused image is kept after it is first seen.
	MinAge time.Duration
	// Period is how often Run collects.
	Period time.Duration
	// Pinned names images never to remove, by ID or name (the pause
	// image, for runtimes that do not report it pinned).
	Pinned []string
	Clock  clock.WithTicker
	Log    *slog.Logger
}

// Manager is the image garbage collector. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	pinned map[string]bool

	mu sync.Mutex // guards records
	// records are the images seen at the last detection, by ID.
	records map[string]*record
}

// record is what the collector remembers of one image.
type record struct {
	firstDetected time.Time
	// lastUsed is when a container last referred to it; zero if never
	// seen in use.
	lastUsed time.Time
	// inUse is whether a container referred to it at the last detection.
	inUse  bool
	size   uint64
	pinned bool
}

// New checks cfg and builds a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("imagegc: Runtime is required")
	}
	if cfg.HighThresholdPercent == 0 {
		cfg.HighThresholdPercent = DefaultHighThresholdPercent
	}
	if cfg.LowThresholdPercent == 0 {
		cfg.LowThresholdPercent = DefaultLowThresholdPercent
	}
	if cfg.HighThresholdPercent > 100 || cfg.LowThresholdPercent < 0 || cfg.LowThresholdPercent > cfg.HighThresholdPercent {
		return nil, fmt.Errorf("imagegc: thresholds low %d%% and high %d%% must satisfy 0 <= low <= high <= 100",
			cfg.LowThresholdPercent, cfg.HighThresholdPercent)
	}
	if cfg.MinAge == 0 {
		cfg.MinAge = DefaultMinAge
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Manager{cfg: cfg, pinned: map[string]bool{}, records: map[string]*record{}}
	for _, p := range cfg.Pinned {
		m.pinned[p] = true
	}
	return m, nil
}

// Run collects every Period until ctx ends, logging failures: a full disk
// is retried at the next period, as the kubelet does.
func (m *Manager) Run(ctx context.Context) error {
	t := m.cfg.Clock.NewTicker(m.cfg.Period)
	defer t.Stop()
	for {
		if err := m.GarbageCollect(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Log.Warn("Image garbage collection failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// GarbageCollect takes stock of the images and, when the image filesystem
// is at or over the high threshold, removes unused ones until it would be
// at the low threshold.
//
// Worked example with the defaults: a 100 GiB filesystem with 12 GiB
// available is 88% used (>= 85), so the collector frees
// 100*(100-80)/100 - 12 = 8 GiB, leaving 20 GiB available (80% used).
func (m *Manager) GarbageCollect(ctx context.Context) error {
	now := m.cfg.Clock.Now()
	if err := m.detect(ctx, now); err != nil {
		return err
	}
	fs, err := m.cfg.Runtime.ImageFsStats(ctx)
	if err != nil {
		return fmt.Errorf("imagegc: image filesystem stats: %w", err)
	}
	if fs.CapacityBytes == 0 {
		return errors.New("imagegc: image filesystem reports no capacity")
	}
	available := min(fs.AvailableBytes, fs.CapacityBytes)
	usage := 100 - int(available*100/fs.CapacityBytes)
	if usage < m.cfg.HighThresholdPercent {
		return nil
	}
	target := fs.CapacityBytes * uint64(100-m.cfg.LowThresholdPercent) / 100
	if target <= available {
		return nil
	}
	toFree := target - available
	m.cfg.Log.Info("Image filesystem over the high threshold; removing unused images",
		"usagePercent", usage, "highThresholdPercent", m.cfg.HighThresholdPercent, "bytesToFree", toFree)
	freed, err := m.freeSpace(ctx, toFree, now)
	if err != nil {
		return err
	}
	if freed < toFree {
		return fmt.Errorf("imagegc: wanted to free %d bytes, but only %d bytes were eligible to free", toFree, freed)
	}
	return nil
}

// detect updates the records from the runtime's images and the images
// containers use.
func (m *Manager) detect(ctx context.Context, now time.Time) error {
	images, err := m.cfg.Runtime.ListImages(ctx)
	if err != nil {
		return fmt.Errorf("imagegc: listing images: %w", err)
	}
	inUse, err := m.cfg.Runtime.ImagesInUse(ctx)
	if err != nil {
		return fmt.Errorf("imagegc: listing images in use: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for _, img := range images {
		seen[img.ID] = true
		r := m.records[img.ID]
		if r == nil {
			r = &record{firstDetected: now}
			m.records[img.ID] = r
		}
		r.size = img.Size
		r.pinned = img.Pinned || m.matches(m.pinned, img)
		r.inUse = m.matches(inUse, img)
		if r.inUse {
			r.lastUsed = now
		}
	}
	for id := range m.records {
		if !seen[id] {
			delete(m.records, id)
		}
	}
	return nil
}

// matches reports whether set names img by ID, tag or digest.
func (m *Manager) matches(set map[string]bool, img Image) bool {
	if set[img.ID] {
		return true
	}
	for _, names := range [][]string{img.RepoTags, img.RepoDigests} {
		for _, n := range names {
			if set[n] {
				return true
			}
		}
	}
	return false
}

// freeSpace removes eligible images, least recently used first (never
// used before used; then the earliest detected), until toFree bytes are
// freed, and returns how many were.
func (m *Manager) freeSpace(ctx context.Context, toFree uint64, now time.Time) (uint64, error) {
	type candidate struct {
		id string
		r  record
	}
	m.mu.Lock()
	var cands []candidate
	for id, r := range m.records {
		if r.pinned || r.inUse || now.Sub(r.firstDetected) < m.cfg.MinAge {
			continue
		}
		cands = append(cands, candidate{id, *r})
	}
	m.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].r, cands[j].r
		if !a.lastUsed.Equal(b.lastUsed) {
			return a.lastUsed.Before(b.lastUsed)
		}
		if !a.firstDetected.Equal(b.firstDetected) {
			return a.firstDetected.Before(b.firstDetected)
		}
		return cands[i].id < cands[j].id
	})
	var freed uint64
	var errs []error
	for _, c := range cands {
		if freed >= toFree {
			break
		}
		if err := m.cfg.Runtime.RemoveImage(ctx, c.id); err != nil {
			errs = append(errs, fmt.Errorf("removing image %s: %w", c.id, err))
			continue
		}
		m.cfg.Log.Info("Removed unused image", "image", c.id, "size", c.r.size)
		m.mu.Lock()
		delete(m.records, c.id)
		m.mu.Unlock()
		freed += c.r.size
	}
	return freed, errors.Join(errs...)
}
