package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/skiff-sh/skiff/internal/storage"
)

type opType uint8

const (
	opCreate opType = iota + 1
	opUpdate
	opDelete
)

func (o opType) String() string {
	switch o {
	case opCreate:
		return "create"
	case opUpdate:
		return "update"
	default:
		return "delete"
	}
}

// writeReq is one caller's write waiting for the committer.
type writeReq struct {
	op          opType
	key         string
	value       []byte
	expectedRev int64
	// done has room for the one result, so the committer never blocks on a
	// caller that gave up waiting.
	done chan writeResult
}

type writeResult struct {
	rev  int64
	prev storage.KeyValue // the replaced or deleted version (update/delete)
	err  error
}

// Create writes key if it does not exist.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	res := s.submit(ctx, &writeReq{op: opCreate, key: key, value: value})
	return res.rev, res.err
}

// Update replaces key if its ModRevision is expectedRev.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRev int64) (int64, error) {
	res := s.submit(ctx, &writeReq{op: opUpdate, key: key, value: value, expectedRev: expectedRev})
	return res.rev, res.err
}

// Delete removes key if its ModRevision is expectedRev, or whatever its
// version when expectedRev is 0.
func (s *Store) Delete(ctx context.Context, key string, expectedRev int64) (int64, storage.KeyValue, error) {
	res := s.submit(ctx, &writeReq{op: opDelete, key: key, expectedRev: expectedRev})
	return res.rev, res.prev, res.err
}

// submit queues req for the committer and waits for its result. If ctx ends
// after the request was queued the write may still commit; the caller gets
// ctx.Err() and must re-read, exactly as with a network store.
func (s *Store) submit(ctx context.Context, req *writeReq) writeResult {
	if err := s.checkCall(ctx); err != nil {
		return writeResult{err: err}
	}
	if err := validKey(req.key); err != nil {
		return writeResult{err: fmt.Errorf("%s %q: %w", req.op, req.key, err)}
	}
	// The caller may reuse its buffer once we return, but the value is
	// shared with watchers and the event ring until long after, so copy it.
	req.value = cloneBytes(req.value)
	req.done = make(chan writeResult, 1)

	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return writeResult{err: storage.ErrClosed}
	}
	select {
	case s.reqs <- req:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return writeResult{err: ctx.Err()}
	}

	select {
	case res := <-req.done:
		return res
	case <-ctx.Done():
		return writeResult{err: fmt.Errorf("%s %q: outcome unknown: %w", req.op, req.key, ctx.Err())}
	}
}

// runCommitter is the group commit loop. It blocks for one request, then
// takes every request that queued meanwhile (up to MaxBatch) and commits
// them in one fsync'd transaction. There is no timer: while one batch is
// being fsync'd the next one is queuing, so batches grow with load and a
// lone writer waits for exactly one commit (which bbolt makes durable with
// two fsyncs: data pages, then the meta page).
func (s *Store) runCommitter() {
	defer close(s.committerDone)
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	for req := range s.reqs {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch) // drop references so values can be collected
	}
}

// commitBatch applies batch in order in one transaction. Each request is
// validated against the state left by the ones before it; one that fails
// (conflict, exists, not found) takes no revision and does not affect the
// others. Only a failed commit fails them all.
func (s *Store) commitBatch(batch []*writeReq) {
	results := make([]writeResult, len(batch))
	var events []storage.Event
	err := s.update(func(tx *bbolt.Tx) error {
		events = events[:0]
		w := newTxWriter(tx)
		for i, req := range batch {
			var err error
			if results[i], err = w.apply(req); err != nil {
				return err // bbolt failed mid-write: roll back the batch
			}
			if results[i].err == nil {
				events = append(events, w.lastEvent)
			}
		}
		return w.finish()
	})
	if err != nil {
		err = fmt.Errorf("commit batch of %d writes: %w", len(batch), err)
		for _, req := range batch {
			req.done <- writeResult{err: err}
		}
		return
	}
	// Publish before answering, so that once a write returns its event is
	// already ordered before anything a later Watch(0) will see.
	s.hub.publish(events)
	for i, req := range batch {
		req.done <- results[i]
	}
}

// txWriter applies writes inside one bbolt write transaction.
type txWriter struct {
	meta, revs, keys *bbolt.Bucket
	rev              int64 // revision of the last applied write
	lastEvent        storage.Event
}

func newTxWriter(tx *bbolt.Tx) *txWriter {
	w := &txWriter{
		meta: tx.Bucket(bucketMeta),
		revs: tx.Bucket(bucketRevisions),
		keys: tx.Bucket(bucketKeys),
	}
	// Revisions only ever append, so fuller pages waste less space without
	// costing splits in the middle (etcd uses the same setting).
	w.revs.FillPercent = 0.9
	w.rev = decodeInt(w.meta.Get(metaCurrent))
	return w
}

func (w *txWriter) finish() error {
	return w.meta.Put(metaCurrent, encodeInt(w.rev))
}

// apply validates and writes one request at revision w.rev+1. A failed
// precondition is the request's own result and leaves the transaction as it
// was. A storage error is returned separately: the transaction may be half
// written, so the whole batch must roll back.
func (w *txWriter) apply(req *writeReq) (writeResult, error) {
	key := []byte(req.key)
	cur, exists, err := w.index(key)
	if err != nil {
		return writeResult{}, fmt.Errorf("%s %q: %w", req.op, req.key, err)
	}
	switch req.op {
	case opCreate:
		if exists {
			return writeResult{err: fmt.Errorf("create %q: %w", req.key, storage.ErrKeyExists)}, nil
		}
	case opUpdate, opDelete:
		if !exists {
			return writeResult{err: fmt.Errorf("%s %q: %w", req.op, req.key, storage.ErrNotFound)}, nil
		}
		if (req.op == opUpdate || req.expectedRev != 0) && cur.modRev != req.expectedRev {
			return writeResult{err: fmt.Errorf("%s %q: expected revision %d, current %d: %w",
				req.op, req.key, req.expectedRev, cur.modRev, storage.ErrConflict)}, nil
		}
	}
	res, err := w.write(req, key, cur)
	if err != nil {
		return writeResult{}, fmt.Errorf("%s %q: %w", req.op, req.key, err)
	}
	return res, nil
}

func (w *txWriter) index(key []byte) (indexEntry, bool, error) {
	v := w.keys.Get(key)
	if v == nil {
		return indexEntry{}, false, nil
	}
	e, err := decodeIndex(v)
	return e, err == nil, err
}

// write stores a validated request as the record at the next revision and
// updates the index.
func (w *txWriter) write(req *writeReq, key []byte, cur indexEntry) (writeResult, error) {
	rev := w.rev + 1
	var res writeResult
	rec := record{typ: storage.EventPut, key: key, value: req.value}
	switch req.op {
	case opCreate:
		rec.createRev = rev
	case opUpdate:
		rec.createRev, rec.prevModRev = cur.createRev, cur.modRev
	case opDelete:
		old, err := readRecord(w.revs, cur.modRev)
		if err != nil {
			return res, err
		}
		res.prev = old.keyValue(cur.modRev) // copies out of the mmap
		// A separate copy for the event, which watchers share: the
		// caller owns res.prev and may modify it.
		rec = record{typ: storage.EventDelete, createRev: cur.createRev,
			prevModRev: cur.modRev, key: key, value: cloneBytes(res.prev.Value)}
	}
	if err := w.revs.Put(revKey(rev), rec.encode()); err != nil {
		return res, err
	}
	var err error
	if req.op == opDelete {
		err = w.keys.Delete(key)
	} else {
		err = w.keys.Put(key, indexEntry{createRev: rec.createRev, modRev: rev}.encode())
	}
	if err != nil {
		return res, err
	}
	w.rev = rev
	res.rev = rev
	w.lastEvent = storage.Event{Type: rec.typ, KV: storage.KeyValue{
		Key: req.key, Value: rec.value, CreateRevision: rec.createRev, ModRevision: rev,
	}}
	return res, nil
}
