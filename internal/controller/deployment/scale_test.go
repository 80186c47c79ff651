package deployment

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestScaleTenThousand measures how long the Deployment and ReplicaSet
// controllers take to bring a large Deployment's pods into existence (no
// scheduler or kubelet here: creation and status only). It is slow, so it
// runs only when SKIFF_SCALE_REPLICAS is set, e.g. to 10000.
func TestScaleTenThousand(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SKIFF_SCALE_REPLICAS"))
	if n <= 0 {
		t.Skip("set SKIFF_SCALE_REPLICAS to run")
	}
	r := startRig(t, nil)
	start := time.Now()
	r.create(t, newDeployment("big", int32(n), "app:v1"))
	deadline := start.Add(5 * time.Minute)
	for {
		d := r.get(t, "big")
		if d.Status.Replicas == int32(n) && d.Status.UpdatedReplicas == int32(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: status %+v", time.Since(start), d.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if got := len(r.livePods(t)); got != n {
		t.Fatalf("%d pods, want %d", got, n)
	}
	t.Logf("%d pods created and counted in %v (%.0f pods/s)", n, elapsed, float64(n)/elapsed.Seconds())
	fmt.Fprintf(os.Stderr, "scale: %d pods in %v\n", n, elapsed)
}
