package replicaset

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// rig runs the ReplicaSet controller and the replication manager against
// a real in-process API server.
type rig struct {
	client kubernetes.Interface
	ns     string
}

func startRig(t *testing.T, clk clock.WithTicker) *rig {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	if clk == nil {
		clk = clock.RealClock{}
	}
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	cc := controller.Context{
		Client:    s.Client,
		Informers: factory,
		Recorder:  func(string) record.EventRecorder { return &record.FakeRecorder{} },
		Clock:     clk,
	}
	rsc, err := NewReplicaSetController(cc)
	if err != nil {
		t.Fatal(err)
	}
	rcm, err := NewReplicationManager(cc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, r := range []*Controller{rsc, rcm} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	// Cleanups run last-in first-out: the controllers stop before the
	// server does.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
	r := &rig{client: s.Client, ns: "test"}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return r
}

// eventually polls cond every 20ms until it holds or 30s pass.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func (r *rig) pods(t *testing.T) []corev1.Pod {
	t.Helper()
	l, err := r.client.CoreV1().Pods(r.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// livePods are the pods not being deleted.
func (r *rig) livePods(t *testing.T) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range r.pods(t) {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// markReady plays the kubelet: the pod runs and is ready since at.
func (r *rig) markReady(t *testing.T, name string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	for range 10 {
		p, err := r.client.CoreV1().Pods(r.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
		_, err = r.client.CoreV1().Pods(r.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatalf("could not mark %s ready", name)
}

// podCounter follows a pod watch and remembers the highest number of
// pods (not being deleted) that existed at any moment.
type podCounter struct {
	mu   sync.Mutex
	live map[string]bool
	max  int
}

func (r *rig) countPods(t *testing.T) *podCounter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := r.client.CoreV1().Pods(r.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pc := &podCounter{live: map[string]bool{}}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pc.mu.Lock()
			switch {
			case ev.Type == watch.Deleted || p.DeletionTimestamp != nil:
				delete(pc.live, p.Name)
			case ev.Type == watch.Added || ev.Type == watch.Modified:
				pc.live[p.Name] = true
			}
			pc.max = max(pc.max, len(pc.live))
			pc.mu.Unlock()
		}
	}()
	return pc
}

func (pc *podCounter) now() (int, int) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.live), pc.max
}

func waitCount(t *testing.T, pc *podCounter, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d pods", want), func() (bool, error) {
		n, _ := pc.now()
		return n == want, fmt.Errorf("%d pods", n)
	})
}
