package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"

	"github.com/skiff-sh/skiff/internal/storage"
)

// errNothingToDo ends a transaction early without it being an error.
var errNothingToDo = errors.New("nothing to do")

// Compact discards history older than rev. It first records rev as the
// compacted revision (so List and Watch refuse older revisions at once),
// then deletes old records in chunks of Options.CompactChunk, each its own
// transaction, so writers wait for one chunk at most rather than for the
// whole compaction. Compacting at or below the current compacted revision
// is a no-op for rev == compacted and ErrCompacted below it.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.checkCall(ctx); err != nil {
		return err
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	err := s.update(func(tx *bbolt.Tx) error {
		m := readMeta(tx)
		switch {
		case rev > m.current:
			return fmt.Errorf("revision %d, current %d: %w", rev, m.current, storage.ErrFutureRevision)
		case rev < m.compacted:
			return fmt.Errorf("revision %d, compacted %d: %w", rev, m.compacted, storage.ErrCompacted)
		case rev == m.compacted:
			return errNothingToDo
		}
		return tx.Bucket(bucketMeta).Put(metaCompacted, encodeInt(rev))
	})
	if errors.Is(err, errNothingToDo) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("compact at %d: %w", rev, err)
	}
	s.hub.setCompacted(rev)
	if err := s.finishCompaction(rev); err != nil {
		return fmt.Errorf("compact at %d: %w", rev, err)
	}
	return nil
}

// finishCompaction deletes every record older than rev except the version
// each key had at rev, then marks the compaction done. It is idempotent, so
// Open can rerun one a crash interrupted. The caller holds compactMu (or is
// Open, before anything else can run).
func (s *Store) finishCompaction(rev int64) error {
	keep, err := s.keepAt(rev)
	if err != nil {
		return err
	}
	from := int64(1)
	for from < rev {
		select {
		case <-s.closing:
			return storage.ErrClosed
		default:
		}
		if from, err = s.compactChunk(from, rev, keep); err != nil {
			return err
		}
	}
	return s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaCompactDone, encodeInt(rev))
	})
}

// keepAt returns the revisions below rev that hold the version some key had
// at rev: the newest put at or before rev of every key alive at rev. The
// state at rev never changes, so the set stays right while writes go on.
func (s *Store) keepAt(rev int64) (map[int64]struct{}, error) {
	keep := make(map[int64]struct{})
	err := s.view(func(tx *bbolt.Tx) error {
		return versionsAt(tx, nil, rev, func(kv keyVersion) error {
			if kv.modRev < rev {
				keep[kv.modRev] = struct{}{}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("find versions live at %d: %w", rev, err)
	}
	return keep, nil
}

// compactChunk visits up to CompactChunk records from revision from (but
// below rev), deletes those not in keep, and returns where the next chunk
// starts (rev when done).
func (s *Store) compactChunk(from, rev int64, keep map[int64]struct{}) (int64, error) {
	next := rev
	err := s.update(func(tx *bbolt.Tx) error {
		revs := tx.Bucket(bucketRevisions)
		var doomed [][]byte
		c := revs.Cursor()
		visited := 0
		for k, _ := c.Seek(revKey(from)); k != nil; k, _ = c.Next() {
			r := decodeRevKey(k)
			if r >= rev {
				break
			}
			if visited == s.opts.CompactChunk {
				next = r
				break
			}
			visited++
			if _, ok := keep[r]; !ok {
				doomed = append(doomed, revKey(r))
			}
		}
		// Deleting behind a live cursor can make it skip entries, so the
		// deletes happen after the scan.
		for _, k := range doomed {
			if err := revs.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("compact revisions from %d: %w", from, err)
	}
	return next, nil
}

// Defragment rewrites the file with only its live pages and swaps it in.
// bbolt reuses freed pages but never shrinks its file, so after a large
// compaction this is how the disk space comes back. All other calls wait
// while it runs (it copies the whole live data set once).
func (s *Store) Defragment() error {
	if s.isClosed.Load() {
		return storage.ErrClosed
	}
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.isClosed.Load() {
		return storage.ErrClosed
	}
	db, err := defragmentFile(s.db, s.path, s.opts)
	if db != nil {
		s.db = db
	}
	if err != nil {
		return fmt.Errorf("defragment %s: %w", s.path, err)
	}
	return nil
}

// autoDefragMinSize keeps Open from rewriting files too small to matter.
const autoDefragMinSize = 1 << 20

// maybeDefragment defragments a freshly opened file when more than half of
// it is free pages, which is the state a big compaction leaves behind.
func maybeDefragment(db *bbolt.DB, path string, opts Options) (*bbolt.DB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	st := db.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(db.Info().PageSize)
	if fi.Size() < autoDefragMinSize || free*2 <= fi.Size() {
		return db, nil
	}
	newDB, err := defragmentFile(db, path, opts)
	if err != nil {
		if newDB != nil {
			_ = newDB.Close()
		}
		return nil, fmt.Errorf("defragment %s at open: %w", path, err)
	}
	return newDB, nil
}

// defragmentFile copies db's live data into path+".defrag", replaces path
// with it by an atomic rename and reopens it. It returns the DB to use from
// now on even on failure: the old one if the swap did not happen, nil only
// if neither file could be opened.
func defragmentFile(db *bbolt.DB, path string, opts Options) (*bbolt.DB, error) {
	tmp := path + ".defrag"
	if err := writeCompactCopy(db, tmp, opts); err != nil {
		_ = os.Remove(tmp)
		return db, err
	}
	if err := db.Close(); err != nil {
		_ = os.Remove(tmp)
		return reopen(path, opts, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return reopen(path, opts, fmt.Errorf("replace with defragmented copy: %w", err))
	}
	// The rename is only durable once the directory entry is.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return reopen(path, opts, err)
	}
	return reopen(path, opts, nil)
}

func reopen(path string, opts Options, cause error) (*bbolt.DB, error) {
	db, err := openDB(path, opts)
	if err != nil {
		return nil, errors.Join(cause, err)
	}
	return db, cause
}

// writeCompactCopy writes db's live data to a new file at dst, fsync'd and
// truncated to its last used page. The copy is written without per-commit
// fsync (one sync at the end is enough: the file is not in use until the
// rename), and bbolt's Compact packs pages full.
func writeCompactCopy(db *bbolt.DB, dst string, opts Options) error {
	_ = os.Remove(dst)
	out, err := bbolt.Open(dst, 0o600, &bbolt.Options{
		Timeout:        opts.LockTimeout,
		NoSync:         true,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if err := bbolt.Compact(out, db, 64<<20); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy live data: %w", err)
	}
	// bbolt grows files ahead of need; trim the copy to what it uses.
	var used int64
	if err := out.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return fmt.Errorf("sync %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return truncateAndSync(dst, used)
}

func truncateAndSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
