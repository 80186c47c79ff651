package bolt

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/internal/storage"
)

func TestWatcherTooSlow(t *testing.T) {
	s, _ := openTest(t, Options{WatchBufferSize: 10})
	ch, err := s.Watch(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	fillAndUpdate(t, s, 100, 0, 10)
	for resp := range ch {
		if resp.Err != nil {
			if !errors.Is(resp.Err, ErrWatcherTooSlow) {
				t.Fatalf("watch ended with %v, want ErrWatcherTooSlow", resp.Err)
			}
			return
		}
	}
	t.Fatal("watch closed without an error")
}

// TestWatchGoroutinesExit checks that ended watches leave no goroutine
// behind, whether they ended by cancel, by overflow or by Close.
func TestWatchGoroutinesExit(t *testing.T) {
	base := runtime.NumGoroutine()
	s, _ := openTest(t, Options{WatchBufferSize: 10, WatchCacheSize: 4})
	ctx, cancel := context.WithCancel(t.Context())
	for i := 0; i < 20; i++ {
		if _, err := s.Create(ctx, fmt.Sprint("/k/", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		// From revision 1 these replay from disk (the ring holds 4).
		if _, err := s.Watch(ctx, "/", int64(1+i%3)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	closed, err := s.Watch(t.Context(), "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if resp := <-closed; !errors.Is(resp.Err, storage.ErrClosed) {
		t.Fatalf("watch after Close got %+v, want ErrClosed", resp)
	}
	if _, ok := <-closed; ok {
		t.Fatal("watch channel open after its Err")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines after all watches ended, %d before", n, base)
	}
}
