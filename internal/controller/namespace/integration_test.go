package namespace

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func startController(t *testing.T, s *servertest.Server) {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(s.Config)
	factory := informers.NewSharedInformerFactory(client, 0)
	cc := controller.Context{Client: client, Informers: factory, Clock: clock.RealClock{},
		Recorder: func(string) record.EventRecorder { return &record.FakeRecorder{} }}
	c, err := New(cc, Config{RESTConfig: s.Config, Workers: 2, DeletionGracePeriod: 10 * time.Millisecond})
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

func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last: %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func testPod(ns, name, node string) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "c", Image: "example.com/app:1"}}}}
}

func namespaceGone(c kubernetes.Interface, name string) func() (bool, error) {
	return func() (bool, error) {
		ns, err := c.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, fmt.Errorf("phase %s, finalizers %v, conditions %+v", ns.Status.Phase, ns.Spec.Finalizers, ns.Status.Conditions)
	}
}

func condition(c kubernetes.Interface, ns string, typ corev1.NamespaceConditionType) (*corev1.NamespaceCondition, error) {
	got, err := c.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return findCondition(got.Status.Conditions, typ), nil
}

func TestNamespaceIsEmptiedAndDeleted(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	c := s.Client
	createNamespace(t, c, "doomed")
	createNamespace(t, c, "bystander")
	for _, ns := range []string{"doomed", "bystander"} {
		for i := range 3 {
			name := fmt.Sprintf("o%d", i)
			if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CoreV1().Pods(ns).Create(ctx, testPod(ns, name, ""), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	startController(t, s)
	if err := c.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace doomed to disappear", 10*time.Second, namespaceGone(c, "doomed"))
	for _, ns := range []string{"doomed", "bystander"} {
		want := map[string]int{"doomed": 0, "bystander": 3}[ns]
		cmList, _ := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		secList, _ := c.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		podList, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if len(cmList.Items) != want || len(secList.Items) != want || len(podList.Items) != want {
			t.Errorf("%s: %d configmaps, %d secrets, %d pods; want %d each", ns,
				len(cmList.Items), len(secList.Items), len(podList.Items), want)
		}
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx, "bystander", metav1.GetOptions{}); err != nil {
		t.Errorf("bystander namespace: %v", err)
	}
}

// Content that is going away but not gone yet (a finalizer, a pod in its
// grace period on a node) holds the namespace, with conditions saying why.
func TestNamespaceWaitsForRemainingContent(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	c := s.Client
	createNamespace(t, c, "held")
	held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
	if _, err := c.CoreV1().ConfigMaps("held").Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Bound to a node, the pod stays terminating after its delete until a
	// kubelet (or a grace-0 delete) confirms it.
	if _, err := c.CoreV1().Pods("held").Create(ctx, testPod("held", "p", "node-1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startController(t, s)
	if err := c.CoreV1().Namespaces().Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the finalizers-remaining condition", 10*time.Second, func() (bool, error) {
		cond, err := condition(c, "held", corev1.NamespaceFinalizersRemaining)
		if err != nil || cond == nil {
			return false, err
		}
		return cond.Status == corev1.ConditionTrue && cond.Reason == ReasonSomeFinalizersRemain, fmt.Errorf("%+v", cond)
	})
	cond, err := condition(c, "held", corev1.NamespaceContentRemaining)
	if err != nil || cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != ReasonSomeResourcesRemain {
		t.Fatalf("content remaining condition = %+v, %v", cond, err)
	}
	pod, err := c.CoreV1().Pods("held").Get(ctx, "p", metav1.GetOptions{})
	if err != nil || pod.DeletionTimestamp == nil {
		t.Fatalf("pod should be terminating: %v, %v", pod, err)
	}
	// The node confirms the pod; the finalizer's owner lets go.
	if err := c.CoreV1().Pods("held").Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": nil}})
	if _, err := c.CoreV1().ConfigMaps("held").Patch(ctx, "held", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// Content changes are not namespace events: left alone, the controller
	// looks again after half the finalizer estimate (8s). A change to the
	// namespace brings it back at once.
	touch := []byte(`{"metadata":{"labels":{"touched":"yes"}}}`)
	if _, err := c.CoreV1().Namespaces().Patch(ctx, "held", types.MergePatchType, touch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace held to disappear", 10*time.Second, namespaceGone(c, "held"))
}
