package daemonset

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/skiff-sh/skiff/internal/controller/controllertest"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// env is an API server with this package's controller running against it.
type env struct {
	client kubernetes.Interface
	ctx    context.Context
}

func startEnv(t *testing.T) *env {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	controllertest.StartRecordingEvents(t, s, New)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &env{client: kubernetes.NewForConfigOrDie(s.Config), ctx: ctx}
}

func (e *env) namespace(t *testing.T, name string) string {
	t.Helper()
	if _, err := e.client.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// eventually polls cond until it returns nil, failing with its last error
// after a generous deadline.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	controllertest.Eventually(t, what, cond)
}

// kubelet plays the node agent: every pod that is not ready and not
// terminating is marked Running and Ready after delay.
func (e *env) kubelet(t *testing.T, ns string, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pods, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if p.DeletionTimestamp != nil || isPodReady(p) || time.Since(p.CreationTimestamp.Time) < delay {
						continue
					}
					markReady(ctx, e.client, p)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
}

func markReady(ctx context.Context, client kubernetes.Interface, p *corev1.Pod) {
	p = p.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	_, _ = client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
}

// rolloutStatus runs kubectl's own `rollout status` check on obj.
func rolloutStatus(t *testing.T, obj runtime.Object, gk schema.GroupKind) (string, bool) {
	t.Helper()
	viewer, err := polymorphichelpers.StatusViewerFor(gk)
	if err != nil {
		t.Fatal(err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	msg, done, err := viewer.Status(&unstructured.Unstructured{Object: m}, 0)
	if err != nil {
		return fmt.Sprintf("error: %v", err), false
	}
	return msg, done
}
