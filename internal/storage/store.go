package storage

import (
	"context"
	"errors"
)

// Errors every Store implementation returns, so callers can map them to API
// statuses without knowing the backend.
var (
	ErrNotFound  = errors.New("key not found")
	ErrKeyExists = errors.New("key already exists")
	// ErrConflict means the key's current ModRevision differs from the one the
	// caller expected (optimistic concurrency failed).
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted means the requested revision is older than the oldest
	// revision the store still keeps.
	ErrCompacted = errors.New("revision has been compacted")
	// ErrFutureRevision means the requested revision has not been written yet.
	ErrFutureRevision = errors.New("revision is in the future")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("store is closed")
)

// KeyValue is one version of one key.
type KeyValue struct {
	Key            string
	Value          []byte
	CreateRevision int64 // revision of the write that created this key
	ModRevision    int64 // revision of the write that produced this version
}

// EventType says what a write did to a key.
type EventType uint8

const (
	EventPut EventType = iota + 1
	EventDelete
)

// Event is one committed write, delivered by Watch in revision order.
// For EventPut, KV is the new version. For EventDelete, KV.Value and
// KV.CreateRevision are those of the version that was deleted and
// KV.ModRevision is the revision of the delete itself.
type Event struct {
	Type EventType
	KV   KeyValue
}

// WatchResponse carries committed events in revision order. A response with a
// non-nil Err is the last one on its channel: the watch has ended (compacted,
// too slow, store closed) and the caller must start a new one.
type WatchResponse struct {
	Events []Event
	Err    error
}

// Store is the durable, ordered key-value store the API server keeps objects
// in. Every write gets the next value of a single store-wide revision counter
// and is durable on disk before the call returns.
type Store interface {
	// Get returns the latest version of key, or ErrNotFound.
	Get(ctx context.Context, key string) (KeyValue, error)
	// List returns every key with the given prefix, sorted by key, as of
	// revision rev (0 means latest), together with the revision the list
	// reflects. It fails with ErrCompacted or ErrFutureRevision when rev is
	// outside the kept history.
	List(ctx context.Context, prefix string, rev int64) ([]KeyValue, int64, error)
	// Create writes key only if it does not exist (ErrKeyExists otherwise)
	// and returns the new revision.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update replaces key only if its ModRevision equals expectedRev
	// (ErrConflict otherwise, ErrNotFound if missing) and returns the new
	// revision.
	Update(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error)
	// Delete removes key if its ModRevision equals expectedRev, or
	// unconditionally when expectedRev is 0. It returns the revision of the
	// delete and the version that was removed.
	Delete(ctx context.Context, key string, expectedRev int64) (int64, KeyValue, error)
	// Watch streams every write to keys with the given prefix whose revision
	// is >= fromRev (0 means writes after the call). It fails at once with
	// ErrCompacted if fromRev is older than the kept history. Watch never
	// blocks writers: a watcher that falls too far behind is ended with an
	// error. The channel closes when ctx is done.
	Watch(ctx context.Context, prefix string, fromRev int64) (<-chan WatchResponse, error)
	// CurrentRevision is the revision of the latest committed write.
	CurrentRevision(ctx context.Context) (int64, error)
	// CompactedRevision is the oldest revision Watch and List can still serve.
	CompactedRevision(ctx context.Context) (int64, error)
	// Compact discards history older than rev; the latest version of every
	// live key is always kept.
	Compact(ctx context.Context, rev int64) error
	// Close releases the store; pending writes finish first.
	Close() error
}
