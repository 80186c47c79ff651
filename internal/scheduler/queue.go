package scheduler

import (
	"container/heap"
	"math/bits"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Upstream's queue defaults (kube-scheduler's podInitialBackoffSeconds,
// podMaxBackoffSeconds and podMaxInUnschedulablePodsDuration).
const (
	defaultInitialBackoff   = 1 * time.Second
	defaultMaxBackoff       = 10 * time.Second
	defaultMaxUnschedulable = 5 * time.Minute
)

// queueState is where a pod waits.
type queueState uint8

const (
	// stateActive: ready to be scheduled, in the priority heap.
	stateActive queueState = iota
	// stateBackoff: failed recently, waits out its back-off, then is active.
	stateBackoff
	// stateUnschedulable: no node fits; waits for a cluster event that
	// concerns the plugins that rejected it, or at most maxUnschedulable.
	stateUnschedulable
	// stateInFlight: popped, being scheduled or bound.
	stateInFlight
)

// queuedPod is the queue's record of one pending pod, keyed by
// "namespace/name": the queue holds keys, the informer holds objects.
type queuedPod struct {
	key      string
	uid      types.UID
	priority int32
	state    queueState

	heapIndex int
	seq       uint64    // enqueue order: first come, first served within a priority
	firstSeen time.Time // when the scheduler first saw the pod pending

	attempts      int
	popSeq        uint64    // moveSeq when popped
	popTime       time.Time // start of the current attempt
	failedAt      time.Time
	backoffUntil  time.Time
	failedPlugins pluginSet // 0: unknown, any event may help
	updated       bool      // the pod's spec changed while in flight
}

// attempt is what the scheduling loop gets from pop.
type attempt struct {
	key       string
	uid       types.UID
	attempts  int
	firstSeen time.Time
	popTime   time.Time
}

// schedulingQueue orders pending pods like upstream's: an active heap by
// priority then arrival, a back-off area, and an unschedulable area that
// cluster events drain. Waiting is done by a client-go delaying queue
// (AddAfter on the injected clock) holding keys whose back-off or
// maximum unschedulable stay ends; nothing polls.
type schedulingQueue struct {
	clock            clock.PassiveClock
	timers           workqueue.TypedDelayingInterface[string]
	initialBackoff   time.Duration
	maxBackoff       time.Duration
	maxUnschedulable time.Duration

	mu            sync.Mutex
	cond          *sync.Cond
	active        activeHeap
	pods          map[string]*queuedPod
	unschedulable map[string]*queuedPod
	// waiting[b] counts unschedulable pods rejected by plugin bit b
	// (waiting[16]: by unknown plugins), so an event that concerns none of
	// them, like the stream of "pod bound" events at high rates, costs no
	// walk over the unschedulable pods.
	waiting    [17]int
	enqueueSeq uint64
	// moveSeq counts cluster events; lastMove records per plugin the
	// moveSeq of the last event that concerned it, so a pod that fails
	// after an event relevant to its failure arrived mid-attempt retries
	// after back-off instead of waiting for another event.
	moveSeq  uint64
	lastMove [16]uint64
	closed   bool
}

func newSchedulingQueue(clk clock.WithTicker) *schedulingQueue {
	q := &schedulingQueue{
		clock:            clk,
		timers:           workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "scheduler-waits", Clock: clk}),
		initialBackoff:   defaultInitialBackoff,
		maxBackoff:       defaultMaxBackoff,
		maxUnschedulable: defaultMaxUnschedulable,
		pods:             map[string]*queuedPod{},
		unschedulable:    map[string]*queuedPod{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add records a pending pod. A pod already queued keeps its place; a pod
// recreated under the same name starts over.
func (q *schedulingQueue) add(key string, uid types.UID, priority int32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.pods[key]; e != nil {
		if e.uid == uid {
			return
		}
		q.unsafeDelete(e)
	}
	now := q.clock.Now()
	e := &queuedPod{key: key, uid: uid, priority: priority, firstSeen: now, heapIndex: -1}
	q.pods[key] = e
	q.unsafeActivate(e)
}

// update tells the queue a pending pod's spec or labels changed, which
// may make it schedulable: a waiting pod is retried (after its back-off).
func (q *schedulingQueue) update(key string, uid types.UID, priority int32) {
	q.mu.Lock()
	e := q.pods[key]
	if e == nil || e.uid != uid {
		q.mu.Unlock()
		q.add(key, uid, priority)
		return
	}
	defer q.mu.Unlock()
	switch e.state {
	case stateInFlight:
		e.updated = true
		e.priority = priority
	case stateActive:
		if e.priority != priority {
			e.priority = priority
			heap.Fix(&q.active, e.heapIndex)
		}
	default:
		e.priority = priority
		q.unsafeMove(e)
	}
}

// delete forgets a pod: deleted, bound, or no longer ours.
func (q *schedulingQueue) delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.pods[key]; e != nil {
		q.unsafeDelete(e)
	}
}

// done ends a successful attempt (or one for a pod that vanished).
func (q *schedulingQueue) done(key string, uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.pods[key]; e != nil && e.uid == uid {
		q.unsafeDelete(e)
	}
}

func (q *schedulingQueue) unsafeDelete(e *queuedPod) {
	if e.state == stateActive && e.heapIndex >= 0 {
		heap.Remove(&q.active, e.heapIndex)
	}
	q.unsafeLeaveUnschedulable(e)
	delete(q.pods, e.key)
}

func (q *schedulingQueue) unsafeLeaveUnschedulable(e *queuedPod) {
	if _, ok := q.unschedulable[e.key]; !ok {
		return
	}
	delete(q.unschedulable, e.key)
	q.countWaiting(e.failedPlugins, -1)
}

func (q *schedulingQueue) countWaiting(plugins pluginSet, delta int) {
	if plugins == 0 {
		q.waiting[16] += delta
	}
	for p := uint16(plugins); p != 0; p &= p - 1 {
		q.waiting[bits.TrailingZeros16(p)] += delta
	}
}

// pop blocks until a pod is active and hands it out; ok is false once the
// queue is closed.
func (q *schedulingQueue) pop() (attempt, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return attempt{}, false
	}
	e := heap.Pop(&q.active).(*queuedPod)
	e.state = stateInFlight
	e.attempts++
	e.popSeq = q.moveSeq
	e.popTime = q.clock.Now()
	e.updated = false
	return attempt{key: e.key, uid: e.uid, attempts: e.attempts, firstSeen: e.firstSeen, popTime: e.popTime}, true
}

// failed ends an attempt that did not bind. unschedulable says no node
// fitted (rejected by plugins); otherwise it was an error and the pod only
// backs off, as upstream treats errors.
func (q *schedulingQueue) failed(key string, uid types.UID, plugins pluginSet, unschedulable bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.pods[key]
	if e == nil || e.uid != uid || e.state != stateInFlight {
		return
	}
	now := q.clock.Now()
	e.failedAt = now
	e.backoffUntil = now.Add(q.backoff(e.attempts))
	e.failedPlugins = plugins
	if !unschedulable || e.updated || q.unsafeMovedSince(e) {
		q.unsafeBackoff(e)
		return
	}
	e.state = stateUnschedulable
	q.unschedulable[key] = e
	q.countWaiting(plugins, 1)
	q.timers.AddAfter(key, q.maxUnschedulable)
}

func (q *schedulingQueue) unsafeMovedSince(e *queuedPod) bool {
	if e.failedPlugins == 0 {
		return q.moveSeq > e.popSeq
	}
	for p := uint16(e.failedPlugins); p != 0; p &= p - 1 {
		if q.lastMove[bits.TrailingZeros16(p)] > e.popSeq {
			return true
		}
	}
	return false
}

// backoff doubles from the initial back-off per attempt up to the maximum.
//
// Worked example with upstream's 1s/10s: attempts 1, 2, 3, 4, 5 wait 1s,
// 2s, 4s, 8s, 10s.
func (q *schedulingQueue) backoff(attempts int) time.Duration {
	d := q.initialBackoff
	for i := 1; i < attempts; i++ {
		if d > q.maxBackoff-d {
			return q.maxBackoff
		}
		d += d
	}
	return min(d, q.maxBackoff)
}

// moveAll is a cluster event that may help pods rejected by the plugins in
// event: those pods leave the unschedulable area.
func (q *schedulingQueue) moveAll(event pluginSet) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveSeq++
	concerned := q.waiting[16]
	for p := uint16(event); p != 0; p &= p - 1 {
		q.lastMove[bits.TrailingZeros16(p)] = q.moveSeq
		concerned += q.waiting[bits.TrailingZeros16(p)]
	}
	if concerned == 0 {
		return
	}
	for _, e := range q.unschedulable {
		if e.failedPlugins == 0 || e.failedPlugins&event != 0 {
			q.unsafeMove(e)
		}
	}
}

// unsafeMove sends a waiting pod on: to the active heap when its back-off
// is over, else to wait out the rest of it.
func (q *schedulingQueue) unsafeMove(e *queuedPod) {
	q.unsafeLeaveUnschedulable(e)
	if q.clock.Now().Before(e.backoffUntil) {
		q.unsafeBackoff(e)
		return
	}
	q.unsafeActivate(e)
}

func (q *schedulingQueue) unsafeBackoff(e *queuedPod) {
	e.state = stateBackoff
	q.timers.AddAfter(e.key, e.backoffUntil.Sub(q.clock.Now()))
}

func (q *schedulingQueue) unsafeActivate(e *queuedPod) {
	e.state = stateActive
	q.enqueueSeq++
	e.seq = q.enqueueSeq
	heap.Push(&q.active, e)
	q.cond.Signal()
}

// runTimers handles keys whose wait may be over until the queue closes.
func (q *schedulingQueue) runTimers() {
	for {
		key, shutdown := q.timers.Get()
		if shutdown {
			return
		}
		q.expire(key)
		q.timers.Done(key)
	}
}

// expire acts on a timer. Timers are not cancelled when a pod moves on, and
// the delaying queue keeps only the earliest wait per key, so expire checks
// the pod's state and re-arms what is still pending.
func (q *schedulingQueue) expire(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.pods[key]
	if e == nil {
		return
	}
	now := q.clock.Now()
	switch e.state {
	case stateBackoff:
		if now.Before(e.backoffUntil) {
			q.timers.AddAfter(key, e.backoffUntil.Sub(now))
			return
		}
		q.unsafeActivate(e)
	case stateUnschedulable:
		if left := e.failedAt.Add(q.maxUnschedulable).Sub(now); left > 0 {
			q.timers.AddAfter(key, left)
			return
		}
		q.unsafeMove(e)
	}
}

func (q *schedulingQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	q.timers.ShutDown()
}

// activeHeap orders by priority (higher first), then arrival.
type activeHeap []*queuedPod

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h activeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *activeHeap) Push(x any) {
	e := x.(*queuedPod)
	e.heapIndex = len(*h)
	*h = append(*h, e)
}
func (h *activeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.heapIndex = -1
	*h = old[:len(old)-1]
	return e
}
