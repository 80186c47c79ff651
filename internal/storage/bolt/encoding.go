package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/skiff-sh/skiff/internal/storage"
)

// Bucket and meta key names. They are part of the on-disk format: renaming
// one makes existing files unreadable.
var (
	bucketMeta      = []byte("meta")
	bucketRevisions = []byte("revisions")
	bucketKeys      = []byte("keys")

	metaFormat      = []byte("format")
	metaCurrent     = []byte("current")
	metaCompacted   = []byte("compacted")
	metaCompactDone = []byte("compactDone")
)

// formatVersion is stored in the meta bucket so a future layout change can
// detect (and migrate or refuse) files written by this version.
const formatVersion = 1

// MaxKeySize is the longest key the store accepts. It is bbolt's own limit on
// bucket keys, since every live key is a key of the "keys" index bucket.
const MaxKeySize = 32768

// ErrInvalidKey is returned for an empty key or one longer than MaxKeySize.
// bbolt cannot index an empty key, and etcd rejects it too, so both backends
// agree.
var ErrInvalidKey = errors.New("invalid key: must be 1 to 32768 bytes")

// errNegativeRevision rejects a revision no store ever has. It is not one
// of storage's sentinels on purpose: it is a caller bug, not a state of the
// store a client could recover from.
var errNegativeRevision = errors.New("negative revision")

// ErrCorrupt means a record on disk could not be decoded.
var ErrCorrupt = errors.New("corrupt record")

func validKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeySize {
		return fmt.Errorf("key of %d bytes: %w", len(key), ErrInvalidKey)
	}
	return nil
}

// revKey encodes a revision as 8 big-endian bytes so bbolt's byte order is
// revision order, which makes history scans plain cursor walks.
func revKey(rev int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(rev))
	return b[:]
}

func decodeRevKey(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b))
}

func encodeInt(v int64) []byte { return revKey(v) }

func decodeInt(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return decodeRevKey(b)
}

// indexEntry is the value of the "keys" bucket: where the live version of a
// key is. The value itself lives only in the revisions bucket.
type indexEntry struct {
	createRev int64
	modRev    int64
}

func (e indexEntry) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[0:8], uint64(e.createRev))
	binary.BigEndian.PutUint64(b[8:16], uint64(e.modRev))
	return b
}

func decodeIndex(b []byte) (indexEntry, error) {
	if len(b) != 16 {
		return indexEntry{}, fmt.Errorf("index entry of %d bytes: %w", len(b), ErrCorrupt)
	}
	return indexEntry{
		createRev: int64(binary.BigEndian.Uint64(b[0:8])),
		modRev:    int64(binary.BigEndian.Uint64(b[8:16])),
	}, nil
}

// record is one write in the revisions bucket.
//
// prevModRev links a record to the previous write of the same key within the
// key's current life: for an update or delete it is the ModRevision of the
// version it replaced; for a create it is 0, because before a create the key
// did not exist, which is all a reader of history needs to know.
//
// A delete record carries the deleted value (not a reference to the put that
// wrote it) so that a watch replaying history can emit the delete event with
// its value even after compaction removed the put. Deletes are the only place
// a value is stored twice, and compaction removes them.
type record struct {
	typ        storage.EventType
	createRev  int64
	prevModRev int64
	key        []byte
	value      []byte
}

// recordHeader is type (1) + createRev (8) + prevModRev (8).
const recordHeader = 17

func (r record) encode() []byte {
	b := make([]byte, recordHeader, recordHeader+binary.MaxVarintLen64+len(r.key)+len(r.value))
	b[0] = byte(r.typ)
	binary.BigEndian.PutUint64(b[1:9], uint64(r.createRev))
	binary.BigEndian.PutUint64(b[9:17], uint64(r.prevModRev))
	b = binary.AppendUvarint(b, uint64(len(r.key)))
	b = append(b, r.key...)
	return append(b, r.value...)
}

// decodeRecord parses b without copying: key and value alias b, which bbolt
// only guarantees for the life of the transaction. Callers that keep a
// record past the transaction use record.detach.
func decodeRecord(b []byte) (record, error) {
	if len(b) < recordHeader+1 {
		return record{}, fmt.Errorf("record of %d bytes: %w", len(b), ErrCorrupt)
	}
	r := record{
		typ:        storage.EventType(b[0]),
		createRev:  int64(binary.BigEndian.Uint64(b[1:9])),
		prevModRev: int64(binary.BigEndian.Uint64(b[9:17])),
	}
	if r.typ != storage.EventPut && r.typ != storage.EventDelete {
		return record{}, fmt.Errorf("record type %d: %w", r.typ, ErrCorrupt)
	}
	klen, n := binary.Uvarint(b[recordHeader:])
	if n <= 0 || uint64(len(b)-recordHeader-n) < klen {
		return record{}, fmt.Errorf("record key length: %w", ErrCorrupt)
	}
	start := recordHeader + n
	r.key = b[start : start+int(klen)]
	r.value = b[start+int(klen):]
	return r, nil
}

// recordKey returns just the key of an encoded record, for scans that filter
// by prefix before paying for a full decode.
func recordKey(b []byte) ([]byte, bool) {
	if len(b) < recordHeader+1 {
		return nil, false
	}
	klen, n := binary.Uvarint(b[recordHeader:])
	if n <= 0 || uint64(len(b)-recordHeader-n) < klen {
		return nil, false
	}
	start := recordHeader + n
	return b[start : start+int(klen)], true
}

// event turns the record written at rev into the event a watcher sees,
// copying key and value out of bbolt's memory map.
func (r record) event(rev int64) storage.Event {
	return storage.Event{Type: r.typ, KV: r.keyValue(rev)}
}

// keyValue copies the record into a KeyValue whose ModRevision is rev.
func (r record) keyValue(rev int64) storage.KeyValue {
	return storage.KeyValue{
		Key:            string(r.key),
		Value:          cloneBytes(r.value),
		CreateRevision: r.createRev,
		ModRevision:    rev,
	}
}

// cloneBytes copies b, keeping an empty value non-nil so that a value written
// as []byte{} reads back the same way whether it came from memory or disk.
func cloneBytes(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}
