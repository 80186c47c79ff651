package simulated_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-sh/skiff/internal/agent/simulated"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// TestScale measures how fast simulated nodes take bound pods to Running
// and Ready. It is skipped unless SKIFF_SCALE_PODS is set, e.g.
//
//	SKIFF_SCALE_PODS=10000 SKIFF_SCALE_NODES=100 go test -run TestScale -v ./internal/agent/simulated/
//
// It creates the pods unbound, then binds them with 32 clients (as a
// scheduler would) while the nodes run, and reports when the last one is
// Ready. Other knobs:
//
//	SKIFF_SCALE_PREBIND=1   bind everything before the nodes start, timing
//	                        the nodes alone (10,000 pods adopted at once)
//	SKIFF_SCALE_CREATING=1  write ContainerCreating before Running
//	SKIFF_SCALE_WORKERS=N   pod workers per node
func TestScale(t *testing.T) {
	total, _ := strconv.Atoi(os.Getenv("SKIFF_SCALE_PODS"))
	if total <= 0 {
		t.Skip("set SKIFF_SCALE_PODS to run")
	}
	nodeCount := envInt("SKIFF_SCALE_NODES", 100)
	prebind := os.Getenv("SKIFF_SCALE_PREBIND") == "1"
	s := servertest.Start(t, servertest.Options{})
	rc := rest.CopyConfig(s.Config)
	rc.QPS = -1
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	client := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()

	begin := time.Now()
	parallel(total, 32, func(i int) {
		pod := newPod(fmt.Sprintf("p-%05d", i), nil, corev1.RestartPolicyAlways)
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Errorf("create: %v", err)
		}
	})
	t.Logf("created %d pods in %v", total, time.Since(begin).Round(time.Millisecond))
	bindAll := func() time.Duration {
		begin := time.Now()
		parallel(total, 32, func(i int) {
			err := client.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%05d", i), Namespace: "default"},
				Target:     corev1.ObjectReference{Kind: "Node", Name: fmt.Sprintf("%s%d", simulated.DefaultNamePrefix, i%nodeCount)},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Errorf("bind: %v", err)
			}
		})
		return time.Since(begin)
	}
	if prebind {
		t.Logf("bound %d pods in %v with no nodes running", total, bindAll().Round(time.Millisecond))
	}

	var ready, writes atomic.Int64
	w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	allReady := make(chan struct{})
	go countReady(w, total, &ready, &writes, allReady)

	begin = time.Now()
	nodesWith(t, rc, simulated.Config{
		Nodes: nodeCount, Workers: envInt("SKIFF_SCALE_WORKERS", 0), LeaseRenewInterval: 10 * time.Second,
		ReportContainerCreating: os.Getenv("SKIFF_SCALE_CREATING") == "1",
	})
	t.Logf("%d nodes registered in %v", nodeCount, time.Since(begin).Round(time.Millisecond))
	if !prebind {
		begin = time.Now()
		t.Logf("bound %d pods in %v with the nodes running", total, bindAll().Round(time.Millisecond))
	}
	select {
	case <-allReady:
	case <-time.After(5 * time.Minute):
		t.Fatalf("only %d of %d pods ready after 5 minutes", ready.Load(), total)
	}
	t.Logf("all %d pods Running and Ready %v after %s (%d status writes)", total,
		time.Since(begin).Round(time.Millisecond), map[bool]string{true: "the nodes started", false: "binding began"}[prebind], writes.Load())
}

// countReady counts pods turning Ready and status writes with container
// statuses, and closes done once total pods are Ready.
func countReady(w watch.Interface, total int, ready, writes *atomic.Int64, done chan<- struct{}) {
	seen := map[string]bool{}
	for ev := range w.ResultChan() {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type != watch.Modified || pod.Spec.NodeName == "" {
			continue
		}
		if len(pod.Status.ContainerStatuses) > 0 {
			writes.Add(1)
		}
		if isReady(pod) && !seen[pod.Name] {
			seen[pod.Name] = true
			if ready.Add(1) == int64(total) {
				close(done)
				return
			}
		}
	}
}

func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
