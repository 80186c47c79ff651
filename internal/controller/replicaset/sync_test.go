package replicaset

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/controller"
)

// lagRig is a controller over a fake clientset whose informers are never
// started: the test decides what the caches have "seen", so it can make
// them lag behind the writes.
type lagRig struct {
	c       *Controller
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	mu      sync.Mutex
	created []*corev1.Pod
	deletes atomic.Int32
}

func newLagRig(t *testing.T) *lagRig {
	t.Helper()
	r := &lagRig{client: fake.NewClientset()}
	var n atomic.Int32
	r.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.Name = fmt.Sprintf("%s%d", p.GenerateName, n.Add(1))
		p.UID = k8stypes.UID("pod-" + p.Name)
		r.mu.Lock()
		r.created = append(r.created, p.DeepCopy())
		r.mu.Unlock()
		return false, nil, nil
	})
	r.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		r.deletes.Add(1)
		return true, nil, nil
	})
	r.factory = informers.NewSharedInformerFactory(r.client, 0)
	c, err := NewReplicaSetController(controller.Context{
		Client:    r.client,
		Informers: r.factory,
		Recorder:  func(string) record.EventRecorder { return record.NewFakeRecorder(1000) },
		Clock:     clocktesting.NewFakeClock(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	return r
}

func (r *lagRig) addRS(t *testing.T, replicas int32) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid", Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
		},
	}
	if _, err := r.client.AppsV1().ReplicaSets("ns").Create(context.Background(), rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// observe makes the pod cache catch up with every pod created so far, as
// the informer would, calling the add handler for each.
func (r *lagRig) observe(t *testing.T) {
	r.mu.Lock()
	pods := r.created
	r.created = nil
	r.mu.Unlock()
	idx := r.factory.Core().V1().Pods().Informer().GetIndexer()
	for _, p := range pods {
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
		r.c.addPod(p)
	}
}

func (r *lagRig) createCount() int {
	n := 0
	for _, a := range r.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			n++
		}
	}
	return n
}

func TestLaggingCacheNeverOverCreates(t *testing.T) {
	r := newLagRig(t)
	r.addRS(t, 7)
	ctx := context.Background()
	if err := r.c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := r.createCount(); got != 7 {
		t.Fatalf("first sync created %d pods, want 7", got)
	}
	// The cache has seen none of them: without expectations every sync
	// would create 7 more.
	for range 3 {
		if err := r.c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.createCount(); got != 7 {
		t.Fatalf("syncs with a lagging cache created %d pods in total, want 7", got)
	}
	// Half the creates observed: still waiting.
	r.mu.Lock()
	late := r.created[4:]
	r.created = r.created[:4]
	r.mu.Unlock()
	r.observe(t)
	if err := r.c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := r.createCount(); got != 7 {
		t.Fatalf("partially observed: %d creates, want 7", got)
	}
	r.mu.Lock()
	r.created = late
	r.mu.Unlock()
	r.observe(t)
	if !r.c.expectations.Satisfied("ns/web") {
		t.Fatal("all creates observed but expectations unsatisfied")
	}
	if err := r.c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := r.createCount(); got != 7 || r.deletes.Load() != 0 {
		t.Fatalf("caught-up cache: %d creates, %d deletes; want 7, 0", got, r.deletes.Load())
	}
}

func TestBurstLimit(t *testing.T) {
	r := newLagRig(t)
	r.addRS(t, BurstReplicas+100)
	if err := r.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := r.createCount(); got != BurstReplicas {
		t.Fatalf("one sync created %d pods, want the burst limit %d", got, BurstReplicas)
	}
}

func TestLaggingCacheNeverOverDeletes(t *testing.T) {
	r := newLagRig(t)
	rs := r.addRS(t, 5)
	ctx := context.Background()
	if err := r.c.sync(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	r.observe(t)
	rs = rs.DeepCopy()
	rs.Spec.Replicas = ptr.To[int32](2)
	if err := r.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(rs); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.deletes.Load(); got != 3 {
		t.Fatalf("deleted %d pods while the cache lagged, want 3", got)
	}
}
