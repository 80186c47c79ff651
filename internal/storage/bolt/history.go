package bolt

import (
	"go.etcd.io/bbolt"

	"github.com/skiff-sh/skiff/internal/storage"
)

// A key's version at an old revision rev is found without per-key history
// chains being walked one lookup at a time:
//
//   - A key not written after rev has the same version now as at rev, so the
//     index (live keys) answers for it directly.
//   - A key written after rev has its first such write somewhere in
//     (rev, current]. That record's prevModRev is the ModRevision the key
//     had just before it, which is the version at rev; 0 means the key did
//     not exist at rev (the first write was a create).
//
// So one ordered scan of the revisions after rev plus one index scan give the
// exact state at rev, including keys deleted since (they appear in the scan
// but not the index) and excluding keys created since (their first write is
// a create). The cost is proportional to the writes since rev, which is what
// a consistent read of an old revision has to look at in any MVCC design.

// keyVersion is where the version of one key at some revision is stored.
type keyVersion struct {
	key    string
	modRev int64
}

// versionsAt calls fn, in no particular order, with the ModRevision of every
// key under prefix that existed at rev. The caller has checked that
// compacted <= rev <= current.
func versionsAt(tx *bbolt.Tx, prefix []byte, rev int64, fn func(keyVersion) error) error {
	firstPrev, err := firstWritesAfter(tx.Bucket(bucketRevisions), prefix, rev)
	if err != nil {
		return err
	}
	c := tx.Bucket(bucketKeys).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if _, touched := firstPrev[string(k)]; touched {
			continue
		}
		e, err := decodeIndex(v)
		if err != nil {
			return err
		}
		if err := fn(keyVersion{key: string(k), modRev: e.modRev}); err != nil {
			return err
		}
	}
	for key, prev := range firstPrev {
		if prev == 0 {
			continue // created after rev
		}
		if err := fn(keyVersion{key: key, modRev: prev}); err != nil {
			return err
		}
	}
	return nil
}

// firstWritesAfter maps each key under prefix written in (rev, current] to
// the prevModRev of its first write in that range.
func firstWritesAfter(revs *bbolt.Bucket, prefix []byte, rev int64) (map[string]int64, error) {
	first := make(map[string]int64)
	c := revs.Cursor()
	for k, v := c.Seek(revKey(rev + 1)); k != nil; k, v = c.Next() {
		key, ok := recordKey(v)
		if !ok {
			return nil, ErrCorrupt
		}
		if !hasPrefix(key, prefix) {
			continue
		}
		if _, seen := first[string(key)]; seen {
			continue
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return nil, err
		}
		first[string(key)] = rec.prevModRev
	}
	return first, nil
}

// listHistorical returns the keys under prefix as they were at rev.
func listHistorical(tx *bbolt.Tx, prefix []byte, rev int64) ([]storage.KeyValue, error) {
	revs := tx.Bucket(bucketRevisions)
	var out []storage.KeyValue
	err := versionsAt(tx, prefix, rev, func(kv keyVersion) error {
		rec, err := readRecord(revs, kv.modRev)
		if err != nil {
			return err
		}
		out = append(out, rec.keyValue(kv.modRev))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortByKey(out)
	return out, nil
}
