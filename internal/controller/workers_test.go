package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// fastQueue retries at once, so a test sees every retry without waiting.
func fastQueue() workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueue(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Microsecond, time.Microsecond))
}

func TestWorkersRetryThenDrop(t *testing.T) {
	const maxRetries = 3
	var mu sync.Mutex
	calls := map[string]int{}
	dropped := make(chan string, 1)
	q := fastQueue()
	w := Workers[string]{
		Queue:      q,
		Count:      2,
		MaxRetries: maxRetries,
		Sync: func(_ context.Context, key string) error {
			mu.Lock()
			calls[key]++
			mu.Unlock()
			if key == "bad" {
				return errors.New("boom")
			}
			return nil
		},
		KeyName:      "key",
		RetryMessage: "retrying",
		Dropped: func(key string, err error) error {
			dropped <- key
			return fmt.Errorf("dropping %s: %w", key, err)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	q.Add("good")
	q.Add("bad")

	select {
	case key := <-dropped:
		if key != "bad" {
			t.Fatalf("dropped %q, want bad", key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("failing key was never dropped")
	}
	// Once dropped, the key is forgotten and not requeued.
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("workers did not stop when ctx ended")
	}
	mu.Lock()
	defer mu.Unlock()
	// One first try plus maxRetries retries.
	if got := calls["bad"]; got != maxRetries+1 {
		t.Errorf("bad synced %d times, want %d", got, maxRetries+1)
	}
	if got := calls["good"]; got != 1 {
		t.Errorf("good synced %d times, want 1", got)
	}
	if n := q.NumRequeues("bad"); n != 0 {
		t.Errorf("dropped key still has %d requeues, want it forgotten", n)
	}
	if !q.ShuttingDown() {
		t.Error("queue not shut down after Run returned")
	}
}

func TestWorkersCtxEndsBeforeCachesSync(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q := fastQueue()
	started := false
	w := Workers[string]{
		Queue:   q,
		Count:   1,
		Synced:  []cache.InformerSynced{func() bool { return false }},
		Started: func(context.Context) error { started = true; return nil },
		Sync: func(context.Context, string) error {
			t.Error("sync ran before caches synced")
			return nil
		},
	}
	if err := w.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil on shutdown", err)
	}
	if started {
		t.Error("Started ran although caches never synced")
	}
	if !q.ShuttingDown() {
		t.Error("queue not shut down")
	}
}

func TestWorkersStartedErrorStops(t *testing.T) {
	want := errors.New("rebuild failed")
	w := Workers[string]{
		Queue:   fastQueue(),
		Count:   1,
		Started: func(context.Context) error { return want },
		Sync:    func(context.Context, string) error { return nil },
	}
	if err := w.Run(context.Background()); !errors.Is(err, want) {
		t.Fatalf("Run = %v, want %v", err, want)
	}
}
