package podcontrol

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	n, err := SlowStartBatch(10, 1, func() error { calls.Add(1); return nil })
	if n != 10 || err != nil || calls.Load() != 10 {
		t.Fatalf("all succeed: n=%d err=%v calls=%d", n, err, calls.Load())
	}
	// Failing from the 4th call on: batches 1, 2 succeed, the batch of 4
	// has failures and nothing after it runs.
	calls.Store(0)
	n, err = SlowStartBatch(10, 1, func() error {
		if calls.Add(1) > 3 {
			return errors.New("quota")
		}
		return nil
	})
	if err == nil || n != 3 || calls.Load() != 7 {
		t.Fatalf("failing: n=%d err=%v calls=%d", n, err, calls.Load())
	}
}
