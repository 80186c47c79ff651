// Package bolt is Skiff's embedded storage.Store: one file on local disk,
// nothing to install or run beside the server.
//
// # Why bbolt (and not SQLite)
//
// bbolt is pure Go, so the single skiff binary stays free of cgo and cross
// compiles. It keeps everything in one file, its B+tree keeps keys sorted so
// a prefix list is a seek plus a forward scan, it has exactly one writer at a
// time with fsync'd transactions (the ordering model a revisioned store needs
// anyway), and etcd's mvcc backend is built on it, so its behaviour under
// this exact workload is well known. SQLite would bring a query planner and
// SQL we do not need, and cgo (or a transpiled port) we do not want.
//
// # Layout: MVCC as in etcd
//
// Three buckets:
//
//	revisions  8-byte big-endian revision -> record
//	           record = type (put/delete), createRev, prevModRev, key, value
//	keys       key -> createRev, modRev   (live keys only)
//	meta       current, compacted, compactDone revisions; format version
//
// Every write appends one record at the next revision and points the index
// at it (or removes the key from the index for a delete). A value is stored
// once, in its record: Get is an index lookup plus one record lookup, and a
// List at the latest revision is an index range scan plus one lookup per
// key. A delete record also carries the deleted value, so watch replays can
// report it even after compaction removed the put; compaction removes old
// deletes, so that copy is temporary.
//
// prevModRev links each update or delete to the version it replaced (0 for a
// create). A List at an old revision uses it: a key written since that
// revision had, at that revision, the version named by the prevModRev of its
// first later write; every other live key is unchanged. See history.go.
//
// # Writes: group commit
//
// All writes go through one committer goroutine. It waits for a request,
// takes every request queued meanwhile, applies them in order in a single
// bbolt transaction (each validated on its own: a conflict fails that
// request and takes no revision), commits once with fsync, publishes the
// events to watchers in revision order, and then answers the callers. There
// is no batching timer: while one commit is being fsync'd the next batch is
// queuing, so a lone writer waits for one commit and many writers share
// each one.
// bbolt's own db.Batch is not used because it adds a fixed delay and retries
// a failed batch request by request.
//
// Every acknowledged write has been fsync'd; there is no option to turn that
// off.
//
// # Watch
//
// An in-memory ring holds the most recent events (Options.WatchCacheSize).
// A watch starting inside it is served from memory; one starting earlier (but
// not before the compacted revision) replays records from the revisions
// bucket in bounded read transactions until the ring covers the rest, and
// then receives live events. Each watcher has a bounded queue
// (Options.WatchBufferSize); the committer only appends to it, and a watcher
// whose queue overflows is ended with ErrWatcherTooSlow, so writers never
// wait for watchers. Events ready together are sent in one WatchResponse.
// Event values are shared between watchers and must be treated as read-only.
//
// # Compaction and file size
//
// Compact(rev) first records rev as the compacted revision, then deletes
// every record below rev except, for each key alive at rev, the record of
// the version it had at rev. Deletion runs in transactions of
// Options.CompactChunk records so writers are never stalled for long; an
// interrupted compaction resumes at the next Open.
//
// bbolt reuses freed pages but never shrinks its file. Defragment copies the
// live data into a new file (bbolt.Compact), fsyncs it and renames it over
// the old one; Open does so by itself when more than half of the file is
// free pages.
//
// # Locking
//
// Lock order: Store.compactMu, Store.closeMu, Store.dbMu, hub.mu,
// watcher.mu. Readers do not take the committer's path at all: bbolt read
// transactions run concurrently with its single write transaction.
package bolt
