package expectations

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestExpectations(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	e := New(clk)
	if !e.Satisfied("ns/rs") {
		t.Fatal("unknown owner must be satisfied")
	}
	e.ExpectCreations("ns/rs", 2)
	if e.Satisfied("ns/rs") {
		t.Fatal("pending creates must block")
	}
	e.CreationObserved("ns/rs")
	if e.Satisfied("ns/rs") {
		t.Fatal("one create still pending")
	}
	e.CreationObserved("ns/rs")
	if !e.Satisfied("ns/rs") {
		t.Fatal("all creates observed")
	}

	e.ExpectDeletions("ns/rs", []string{"ns/a", "ns/b"})
	e.DeletionObserved("ns/rs", "ns/a")
	e.DeletionObserved("ns/rs", "ns/a") // seen twice: counted once
	if e.Satisfied("ns/rs") {
		t.Fatal("b's delete still pending")
	}
	e.DeletionObserved("ns/rs", "ns/b")
	if !e.Satisfied("ns/rs") {
		t.Fatal("all deletes observed")
	}

	e.ExpectDeletions("ns/rs", []string{"ns/c"})
	e.ExpectDeletions("ns/rs", []string{"ns/c"}) // asked twice, observed once
	e.DeletionObserved("ns/rs", "ns/c")
	if !e.Satisfied("ns/rs") {
		t.Fatal("a delete expected twice must be satisfied by one observation")
	}

	e.ExpectCreations("ns/rs", 1)
	clk.SetTime(clk.Now().Add(TTL + time.Second))
	if !e.Satisfied("ns/rs") {
		t.Fatal("expired expectations must not block")
	}
}
