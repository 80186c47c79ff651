package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/skiff-sh/skiff/internal/storage"
)

var _ storage.Store = (*Store)(nil)

// Options tunes a Store. The zero value is a good default; there is
// deliberately no switch to turn fsync off, because an acknowledged write
// must survive a crash.
type Options struct {
	// InitialMmapSize is the address space reserved for the file. bbolt must
	// remap when the file outgrows its mapping, and a remap waits for every
	// open read transaction, so a generous mapping keeps long reads from
	// stalling writes. It costs address space, not memory. 0 means 512 MiB.
	InitialMmapSize int
	// LockTimeout bounds the wait for the file lock held by another process
	// (a second server on the same data directory). 0 means 2s.
	LockTimeout time.Duration
	// MaxBatch caps how many write requests one group commit applies, which
	// bounds the latency of the requests at the end of a big batch.
	// 0 means 1024.
	MaxBatch int
	// WatchCacheSize is how many recent events are kept in memory, so a
	// watcher resuming from a recent revision never touches the disk.
	// 0 means 8192.
	WatchCacheSize int
	// WatchBufferSize is how many events may queue for one watcher before it
	// is ended with ErrWatcherTooSlow. 0 means 8192.
	WatchBufferSize int
	// CompactChunk is how many history entries one compaction transaction
	// visits, so writers wait for at most one chunk. 0 means 10000.
	CompactChunk int
	// DisableAutoDefrag stops Open from defragmenting a file that is more
	// than half free pages.
	DisableAutoDefrag bool

	// noFsync skips fsync on commit. It is unexported on purpose: only this
	// package's fuzz test sets it, to make iterations cheap; every store
	// opened through the API fsyncs each acknowledged write.
	noFsync bool
}

func (o Options) withDefaults() Options {
	if o.InitialMmapSize <= 0 {
		o.InitialMmapSize = 512 << 20
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.WatchCacheSize <= 0 {
		o.WatchCacheSize = 8192
	}
	if o.WatchBufferSize <= 0 {
		o.WatchBufferSize = 8192
	}
	if o.CompactChunk <= 0 {
		o.CompactChunk = 10000
	}
	return o
}

// Store is the embedded storage.Store backend. See doc.go for the design.
//
// Lock order (acquire left to right, never the reverse):
// compactMu -> closeMu -> dbMu -> hub.mu -> watcher.mu.
type Store struct {
	path string
	opts Options

	// compactMu serializes Compact and Defragment, which both run as a
	// sequence of transactions that must not interleave with each other.
	compactMu sync.Mutex

	// closeMu guards closed and sends on reqs: a writer holds it shared while
	// it enqueues, so Close (exclusive) can close reqs knowing no send is in
	// flight.
	closeMu sync.RWMutex
	closed  bool
	reqs    chan *writeReq

	// isClosed mirrors closed for lock-free checks on the read path.
	isClosed atomic.Bool
	// closing is closed by Close to stop compaction and disk replays early.
	closing chan struct{}
	// committerDone is closed when the committer has drained reqs and exited.
	committerDone chan struct{}

	// dbMu guards the db pointer. Every bbolt transaction (reads, group
	// commits, compaction chunks, watch replays) holds it shared; Defragment
	// holds it exclusively while it swaps in the rewritten file.
	dbMu sync.RWMutex
	db   *bbolt.DB

	// hub owns the revision counters seen by callers, the in-memory event
	// ring and the watchers.
	hub *hub
}

// Open opens (creating if needed) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := openDB(path, opts)
	if err != nil {
		return nil, err
	}
	if !opts.DisableAutoDefrag {
		if db, err = maybeDefragment(db, path, opts); err != nil {
			return nil, err
		}
	}
	m, err := initMeta(db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{
		path:          path,
		opts:          opts,
		reqs:          make(chan *writeReq, opts.MaxBatch),
		closing:       make(chan struct{}),
		committerDone: make(chan struct{}),
		db:            db,
		hub:           newHub(opts.WatchCacheSize, opts.WatchBufferSize, m.current, m.compacted),
	}
	if m.compactDone < m.compacted {
		// A crash interrupted a compaction. Its revision is already the
		// floor readers see, so finishing it is only about reclaiming space.
		if err := s.finishCompaction(m.compacted); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("resume compaction at %d: %w", m.compacted, err)
		}
	}
	go s.runCommitter()
	return s, nil
}

func openDB(path string, opts Options) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         opts.LockTimeout,
		InitialMmapSize: opts.InitialMmapSize,
		// As etcd does: the freelist is rebuilt by a scan at open instead
		// of being rewritten on every commit, which keeps each fsync small.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		NoSync:         opts.noFsync,
	})
	if err != nil {
		return nil, fmt.Errorf("open bbolt file %s: %w", path, err)
	}
	return db, nil
}

// metaState is the content of the meta bucket.
type metaState struct {
	current, compacted, compactDone int64
}

// initMeta creates the buckets of a new file and reads the counters.
func initMeta(db *bbolt.DB) (metaState, error) {
	var m metaState
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketRevisions, bucketKeys} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(metaFormat); v == nil {
			if err := meta.Put(metaFormat, encodeInt(formatVersion)); err != nil {
				return err
			}
		} else if f := decodeInt(v); f != formatVersion {
			return fmt.Errorf("file format %d, this build reads %d: %w", f, formatVersion, ErrCorrupt)
		}
		m = readMeta(tx)
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("initialize %s: %w", db.Path(), err)
	}
	return m, nil
}

func readMeta(tx *bbolt.Tx) metaState {
	meta := tx.Bucket(bucketMeta)
	return metaState{
		current:     decodeInt(meta.Get(metaCurrent)),
		compacted:   decodeInt(meta.Get(metaCompacted)),
		compactDone: decodeInt(meta.Get(metaCompactDone)),
	}
}

// Close finishes queued writes, ends every watch with ErrClosed and closes
// the file. Calls after Close, including a second Close, return ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return storage.ErrClosed
	}
	s.closed = true
	s.isClosed.Store(true)
	close(s.reqs)
	close(s.closing)
	s.closeMu.Unlock()

	<-s.committerDone
	// Wait for a running compaction to notice closing and stop.
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.hub.close(storage.ErrClosed)

	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// view runs fn in a read transaction on the current file.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	if s.isClosed.Load() {
		return storage.ErrClosed
	}
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return mapClosed(s.db.View(fn))
}

// update runs fn in a write transaction, committed with fsync.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return mapClosed(s.db.Update(fn))
}

// mapClosed turns bbolt's "not open" (a read racing Close) into ErrClosed.
func mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", storage.ErrClosed, err)
	}
	return err
}

func (s *Store) checkCall(ctx context.Context) error {
	if s.isClosed.Load() {
		return storage.ErrClosed
	}
	return ctx.Err()
}

// Get returns the latest version of key: an index lookup for its ModRevision
// and one read of that revision's record.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if err := s.checkCall(ctx); err != nil {
		return storage.KeyValue{}, err
	}
	if err := validKey(key); err != nil {
		return storage.KeyValue{}, err
	}
	var kv storage.KeyValue
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		kv, err = liveVersion(tx, []byte(key))
		return err
	})
	if err != nil {
		return storage.KeyValue{}, fmt.Errorf("get %q: %w", key, err)
	}
	return kv, nil
}

// liveVersion reads the current version of key, or ErrNotFound.
func liveVersion(tx *bbolt.Tx, key []byte) (storage.KeyValue, error) {
	v := tx.Bucket(bucketKeys).Get(key)
	if v == nil {
		return storage.KeyValue{}, storage.ErrNotFound
	}
	e, err := decodeIndex(v)
	if err != nil {
		return storage.KeyValue{}, err
	}
	rec, err := readRecord(tx.Bucket(bucketRevisions), e.modRev)
	if err != nil {
		return storage.KeyValue{}, err
	}
	return rec.keyValue(e.modRev), nil
}

// readRecord reads the record at rev. A missing record that an index or a
// prevModRev points at means the file is inconsistent: compaction always
// keeps the versions those point at.
func readRecord(revs *bbolt.Bucket, rev int64) (record, error) {
	v := revs.Get(revKey(rev))
	if v == nil {
		return record{}, fmt.Errorf("revision %d referenced but missing: %w", rev, ErrCorrupt)
	}
	return decodeRecord(v)
}

// List returns the keys under prefix at rev (0 = latest), sorted by key.
func (s *Store) List(ctx context.Context, prefix string, rev int64) ([]storage.KeyValue, int64, error) {
	if err := s.checkCall(ctx); err != nil {
		return nil, 0, err
	}
	if rev < 0 {
		return nil, 0, fmt.Errorf("list %q: %w", prefix, errNegativeRevision)
	}
	var (
		out    []storage.KeyValue
		listAt int64
	)
	err := s.view(func(tx *bbolt.Tx) error {
		m := readMeta(tx)
		switch {
		case rev == 0 || rev == m.current:
			listAt = m.current
			var err error
			out, err = listLatest(tx, []byte(prefix))
			return err
		case rev > m.current:
			return fmt.Errorf("revision %d, current %d: %w", rev, m.current, storage.ErrFutureRevision)
		case rev < m.compacted:
			return fmt.Errorf("revision %d, compacted %d: %w", rev, m.compacted, storage.ErrCompacted)
		}
		listAt = rev
		var err error
		out, err = listHistorical(tx, []byte(prefix), rev)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list %q at %d: %w", prefix, rev, err)
	}
	return out, listAt, nil
}

// listLatest walks the index in key order from prefix; bbolt keeps keys
// sorted, so the result needs no sort and the scan stops at the first key
// past the prefix.
func listLatest(tx *bbolt.Tx, prefix []byte) ([]storage.KeyValue, error) {
	revs := tx.Bucket(bucketRevisions)
	var out []storage.KeyValue
	c := tx.Bucket(bucketKeys).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		e, err := decodeIndex(v)
		if err != nil {
			return nil, err
		}
		rec, err := readRecord(revs, e.modRev)
		if err != nil {
			return nil, err
		}
		out = append(out, rec.keyValue(e.modRev))
	}
	return out, nil
}

func sortByKey(kvs []storage.KeyValue) {
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

// CurrentRevision is the revision of the latest write published to watchers.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	if err := s.checkCall(ctx); err != nil {
		return 0, err
	}
	return s.hub.current.Load(), nil
}

// CompactedRevision is the oldest revision List and Watch still serve.
func (s *Store) CompactedRevision(ctx context.Context) (int64, error) {
	if err := s.checkCall(ctx); err != nil {
		return 0, err
	}
	return s.hub.compacted.Load(), nil
}

// FileSize reports the size of the store file on disk, for metrics and for
// deciding when to Defragment.
func (s *Store) FileSize() (int64, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, fmt.Errorf("stat store file: %w", err)
	}
	return fi.Size(), nil
}
