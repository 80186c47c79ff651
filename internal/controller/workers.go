package controller

import (
	"context"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Workers is the loop client-go's sample controller runs: wait for the
// caches, start Count goroutines that drain Queue through Sync, retry a
// failing key with back-off at most MaxRetries times (or, with
// RetryForever, until it syncs, as upstream's workload controllers do), and
// shut the queue down when ctx ends. The fields only say what differs between controllers: names
// and messages, so each keeps its own log lines.
type Workers[K comparable] struct {
	// Name, when set, names the logger the workers and Sync log through.
	Name       string
	Queue      workqueue.TypedRateLimitingInterface[K]
	Count      int
	MaxRetries int
	// RetryForever requeues a failing key with back-off however often it
	// fails; MaxRetries and Dropped are then unused.
	RetryForever bool
	Synced       []cache.InformerSynced
	Sync         func(context.Context, K) error

	// KeyName is the log key under which a queue key is logged ("pdb").
	KeyName string
	// RetryMessage is logged at V(2) when a failed key is requeued.
	RetryMessage string
	// SyncedMessage, when set, is logged at V(4) with the sync's duration
	// after a key syncs cleanly.
	SyncedMessage string
	// Dropped builds the error reported when a key fails MaxRetries times
	// in a row and is forgotten; the key's next event brings it back.
	Dropped func(key K, err error) error

	// Started, when set, runs once the caches have synced and before any
	// worker starts (rebuilding in-memory state from the caches).
	Started func(context.Context) error
	// Until, when set, runs alongside the workers and must return once ctx
	// ends (a periodic resync); by default Run just waits for ctx.
	Until func(context.Context)
}

// Run blocks until ctx ends and the workers have returned. Ending ctx before
// the caches sync is a normal shutdown and returns nil.
func (w Workers[K]) Run(ctx context.Context) error {
	defer w.Queue.ShutDown()
	if w.Name != "" {
		ctx = klog.NewContext(ctx, klog.FromContext(ctx).WithName(w.Name))
	}
	if !cache.WaitForCacheSync(ctx.Done(), w.Synced...) {
		// Only ctx ending stops the wait: a normal shutdown.
		return nil
	}
	if w.Started != nil {
		if err := w.Started(ctx); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	for range w.Count {
		wg.Go(func() {
			for w.processNext(ctx) {
			}
		})
	}
	if w.Until != nil {
		w.Until(ctx)
	} else {
		<-ctx.Done()
	}
	w.Queue.ShutDown()
	wg.Wait()
	return nil
}

func (w Workers[K]) processNext(ctx context.Context) bool {
	key, quit := w.Queue.Get()
	if quit {
		return false
	}
	defer w.Queue.Done(key)
	start := time.Now()
	err := w.Sync(ctx, key)
	logger := klog.FromContext(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return false // shutting down: the error is the cancellation
	case err == nil:
		w.Queue.Forget(key)
		if w.SyncedMessage != "" {
			logger.V(4).Info(w.SyncedMessage, w.KeyName, key, "duration", time.Since(start))
		}
	case w.RetryForever || w.Queue.NumRequeues(key) < w.MaxRetries:
		logger.V(2).Info(w.RetryMessage, w.KeyName, key, "err", err)
		w.Queue.AddRateLimited(key)
	default:
		w.Queue.Forget(key)
		utilruntime.HandleError(w.Dropped(key, err))
	}
	return true
}
