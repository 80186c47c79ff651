package podgc

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func startGC(t *testing.T, s *servertest.Server, cfg Config) {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(s.Config)
	factory := informers.NewSharedInformerFactory(client, 0)
	cc := controller.Context{Client: client, Informers: factory, Clock: clock.RealClock{},
		Recorder: func(string) record.EventRecorder { return &record.FakeRecorder{} }}
	c, err := New(cc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
}

func testPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: node,
			Containers: []corev1.Container{{Name: "c", Image: "example.com/app:1"}}},
	}
}

// eventually polls cond every 20ms until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOrphanedPodsOfDeletedNodeAreForceDeleted(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	pods := s.Client.CoreV1().Pods("default")
	for _, n := range []string{"doomed", "alive"} {
		if _, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := pods.Create(ctx, testPod(fmt.Sprintf("orphan-%d", i), "doomed"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pods.Create(ctx, testPod("keeper", "alive"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A graceful delete leaves a bound pod terminating, waiting for a
	// kubelet that will never come.
	if err := pods.Delete(ctx, "orphan-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	startGC(t, s, Config{GCCheckPeriod: 50 * time.Millisecond, QuarantineTime: 300 * time.Millisecond})

	// While the node exists nothing happens.
	time.Sleep(200 * time.Millisecond)
	if list, _ := pods.List(ctx, metav1.ListOptions{}); len(list.Items) != 4 {
		t.Fatalf("pods deleted while their node exists: %d left", len(list.Items))
	}
	deletedAt := time.Now()
	if err := s.Client.CoreV1().Nodes().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "orphaned pods to be deleted", func() (bool, error) {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(list.Items) == 1 && list.Items[0].Name == "keeper", fmt.Errorf("%d pods", len(list.Items))
	})
	if waited := time.Since(deletedAt); waited < 300*time.Millisecond {
		t.Errorf("pods deleted %v after their node, before the quarantine ended", waited)
	}
}

func TestTerminatedPodsBeyondThreshold(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	pods := s.Client.CoreV1().Pods("default")
	for i, ph := range []corev1.PodPhase{corev1.PodSucceeded, corev1.PodFailed, corev1.PodSucceeded, corev1.PodRunning} {
		p, err := pods.Create(ctx, testPod(fmt.Sprintf("p%d", i), ""), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = ph
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	startGC(t, s, Config{TerminatedPodThreshold: 1, GCCheckPeriod: 50 * time.Millisecond})
	// Three terminated pods, threshold one: the two oldest (p0, p1) go;
	// pods created within the same second are ordered by name.
	eventually(t, "the two oldest terminated pods to be deleted", func() (bool, error) {
		for _, name := range []string{"p0", "p1"} {
			if _, err := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, fmt.Errorf("%s: %v", name, err)
			}
		}
		return true, nil
	})
	for _, name := range []string{"p2", "p3"} {
		if _, err := pods.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
