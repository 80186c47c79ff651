package scheduler

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
)

// queueRig is a queue on a fake clock with its timer loop running.
type queueRig struct {
	t     *testing.T
	q     *schedulingQueue
	clock *testingclock.FakeClock
}

func newQueueRig(t *testing.T) *queueRig {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	q := newSchedulingQueue(clk)
	done := make(chan struct{})
	go func() { q.runTimers(); close(done) }()
	t.Cleanup(func() { q.close(); <-done })
	return &queueRig{t: t, q: q, clock: clk}
}

// popNow pops without blocking: the key at the head of the active heap,
// or "" when nothing is active.
func (r *queueRig) popNow() string {
	r.t.Helper()
	r.q.mu.Lock()
	empty := len(r.q.active) == 0
	r.q.mu.Unlock()
	if empty {
		return ""
	}
	at, ok := r.q.pop()
	if !ok {
		r.t.Fatal("queue closed")
	}
	return at.key
}

// step advances the fake clock and waits until the delaying queue has
// handed every due key to expire (its loop runs on another goroutine).
func (r *queueRig) step(d time.Duration) {
	r.t.Helper()
	r.clock.Step(d)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r.settled() {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// settled reports that no waiting entry is due at the fake time.
func (r *queueRig) settled() bool {
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	now := r.clock.Now()
	for _, e := range r.q.pods {
		switch e.state {
		case stateBackoff:
			if !now.Before(e.backoffUntil) {
				return false
			}
		case stateUnschedulable:
			if !now.Before(e.failedAt.Add(r.q.maxUnschedulable)) {
				return false
			}
		}
	}
	return r.q.timers.Len() == 0
}

func (r *queueRig) state(key string) (queueState, bool) {
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	e := r.q.pods[key]
	if e == nil {
		return 0, false
	}
	return e.state, true
}

func (r *queueRig) wantState(key string, want queueState) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, ok := r.state(key)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: state %v (present %v), want %v", key, got, ok, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueueOrder(t *testing.T) {
	r := newQueueRig(t)
	r.q.add("ns/low-1", "1", 0)
	r.q.add("ns/high", "2", 100)
	r.q.add("ns/low-2", "3", 0)
	r.q.add("ns/low-1", "1", 0) // already queued: keeps its place
	var got []string
	for k := r.popNow(); k != ""; k = r.popNow() {
		got = append(got, k)
	}
	want := []string{"ns/high", "ns/low-1", "ns/low-2"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("pop order = %v, want %v (priority, then arrival)", got, want)
	}
}

func TestQueueBackoffDurations(t *testing.T) {
	q := newSchedulingQueue(testingclock.NewFakeClock(time.Unix(0, 0)))
	defer q.close()
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := q.backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
}

func TestQueueUnschedulableWaitsForRelevantEvent(t *testing.T) {
	r := newQueueRig(t)
	r.q.add("ns/p", "uid", 0)
	r.popNow()
	r.q.failed("ns/p", "uid", pluginNodeResourcesFit, true)
	r.wantState("ns/p", stateUnschedulable)

	r.q.moveAll(pluginInterPodAffinity) // unrelated: a bound pod appeared
	r.step(2 * time.Second)
	if got, _ := r.state("ns/p"); got != stateUnschedulable {
		t.Fatalf("unrelated event moved the pod to %v", got)
	}

	r.q.moveAll(pluginNodeResourcesFit) // a node was added: back-off (1s) is over, so active
	r.wantState("ns/p", stateActive)
	r.q.mu.Lock()
	if r.q.waiting != [17]int{} || len(r.q.unschedulable) != 0 {
		t.Errorf("waiting counts %v with %d unschedulable, want all zero", r.q.waiting, len(r.q.unschedulable))
	}
	r.q.mu.Unlock()
	if k := r.popNow(); k != "ns/p" {
		t.Fatalf("popped %q, want ns/p", k)
	}
}

func TestQueueMoveDuringBackoffWaitsItOut(t *testing.T) {
	r := newQueueRig(t)
	r.q.add("ns/p", "uid", 0)
	for range 3 { // third failure: 4s back-off
		r.popNow()
		r.q.failed("ns/p", "uid", pluginNodeResourcesFit, true)
		r.q.moveAll(pluginNodeResourcesFit)
		r.wantState("ns/p", stateBackoff)
		if r.popNow() != "" {
			t.Fatal("pod active during its back-off")
		}
		r.step(10 * time.Second)
		r.wantState("ns/p", stateActive)
	}
	r.popNow()
	r.q.failed("ns/p", "uid", pluginNodeResourcesFit, true)
	r.q.moveAll(pluginNodeResourcesFit)
	r.step(7 * time.Second) // the 4th back-off is 8s
	if got, _ := r.state("ns/p"); got != stateBackoff {
		t.Fatalf("after 7s of an 8s back-off: %v, want backoff", got)
	}
	r.step(time.Second)
	r.wantState("ns/p", stateActive)
}

func TestQueueUnschedulableFlushedAfterFiveMinutes(t *testing.T) {
	r := newQueueRig(t)
	r.q.add("ns/p", "uid", 0)
	r.popNow()
	r.q.failed("ns/p", "uid", pluginTaintToleration, true)
	r.wantState("ns/p", stateUnschedulable)
	r.step(4 * time.Minute)
	if got, _ := r.state("ns/p"); got != stateUnschedulable {
		t.Fatalf("after 4m: %v, want still unschedulable", got)
	}
	r.step(time.Minute)
	r.wantState("ns/p", stateActive)
}

func TestQueueEventDuringAttemptMeansBackoff(t *testing.T) {
	r := newQueueRig(t)
	r.q.add("ns/p", "uid", 0)
	r.popNow()
	r.q.moveAll(pluginNodeResourcesFit) // a node came while the pod was being scheduled
	r.q.failed("ns/p", "uid", pluginNodeResourcesFit, true)
	r.wantState("ns/p", stateBackoff)
	r.step(time.Second)
	r.wantState("ns/p", stateActive)

	// An event for other plugins does not count.
	r.popNow()
	r.q.moveAll(pluginNodePorts)
	r.q.failed("ns/p", "uid", pluginNodeResourcesFit, true)
	r.wantState("ns/p", stateUnschedulable)
}

func TestQueueErrorsBackOff(t *testing.T) {
	r := newQueueRig(t)
	r.q.add("ns/p", "uid", 0)
	r.popNow()
	r.q.failed("ns/p", "uid", 0, false)
	r.wantState("ns/p", stateBackoff)
	r.step(time.Second)
	r.wantState("ns/p", stateActive)
}

func TestQueueUpdateDeleteAndRecreate(t *testing.T) {
	r := newQueueRig(t)
	r.q.add("ns/p", "uid", 0)
	r.popNow()
	r.q.failed("ns/p", "uid", pluginTaintToleration, true)
	r.wantState("ns/p", stateUnschedulable)
	r.step(2 * time.Second)
	r.q.update("ns/p", "uid", 0) // e.g. a toleration was added
	r.wantState("ns/p", stateActive)

	r.q.delete("ns/p")
	if _, ok := r.state("ns/p"); ok {
		t.Fatal("deleted pod still queued")
	}
	r.q.failed("ns/p", "uid", 0, true) // a late failure for a deleted pod is ignored
	if _, ok := r.state("ns/p"); ok {
		t.Fatal("failure re-queued a deleted pod")
	}

	r.q.add("ns/p", "uid", 0)
	at, _ := r.q.pop()
	r.q.add("ns/p", types.UID("uid-2"), 0) // deleted and recreated under the same name
	r.q.failed("ns/p", at.uid, pluginTaintToleration, true)
	if got, _ := r.state("ns/p"); got != stateActive {
		t.Errorf("recreated pod state %v, want active (the old attempt's failure must not touch it)", got)
	}
	r.q.done("ns/p", at.uid)
	if _, ok := r.state("ns/p"); !ok {
		t.Errorf("done for the old pod removed the new one")
	}
}

func TestQueuePopBlocksUntilAddOrClose(t *testing.T) {
	q := newSchedulingQueue(testingclock.NewFakeClock(time.Unix(0, 0)))
	got := make(chan string, 1)
	go func() {
		at, ok := q.pop()
		if !ok {
			got <- "closed"
			return
		}
		got <- at.key
	}()
	select {
	case k := <-got:
		t.Fatalf("pop returned %q on an empty queue", k)
	case <-time.After(20 * time.Millisecond):
	}
	q.add("ns/p", "uid", 0)
	if k := <-got; k != "ns/p" {
		t.Errorf("pop = %q, want ns/p", k)
	}
	go func() {
		_, ok := q.pop()
		if !ok {
			got <- "closed"
		}
	}()
	q.close()
	if k := <-got; k != "closed" {
		t.Errorf("pop after close = %q", k)
	}
}
