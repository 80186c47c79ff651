package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// rig is a real API server with the scheduler running against it.
type rig struct {
	t      testing.TB
	client kubernetes.Interface
	sched  *Scheduler
	ctx    context.Context
	// start runs the scheduler and its informers (startRig already has,
	// unless asked not to).
	start func()
}

// startRig starts a server and the scheduler. Events go through a real
// broadcaster to the API server, as in `skiff server`. The client is not
// throttled, like the server's in-process loopback clients.
func startRig(t testing.TB) *rig {
	t.Helper()
	r := newRig(t)
	r.start()
	return r
}

// newRig is startRig without starting the scheduler.
func newRig(t testing.TB) *rig {
	t.Helper()
	srv := servertest.Start(t, servertest.Options{})
	cfg := rest.CopyConfig(srv.Config)
	cfg.QPS = -1
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client := kubernetes.NewForConfigOrDie(cfg)

	ctx, cancel := context.WithCancel(context.Background())
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	factory := informers.NewSharedInformerFactory(client, 0)
	cc := controller.Context{
		Client:    client,
		Informers: factory,
		Recorder: func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		},
		Clock: clock.RealClock{},
	}
	s, err := New(cc)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	started := false
	t.Cleanup(func() {
		cancel()
		if started {
			if err := <-done; err != nil {
				t.Errorf("scheduler Run: %v", err)
			}
			factory.Shutdown()
		}
		broadcaster.Shutdown()
	})
	start := func() {
		started = true
		go func() { done <- s.Run(ctx) }()
		factory.Start(ctx.Done())
	}
	return &rig{t: t, client: client, sched: s, ctx: ctx, start: start}
}

type nodeSpec struct {
	name   string
	cpu    string
	memory string
	pods   int64
	labels map[string]string
	taints []corev1.Taint
	// notReady leaves the Ready condition False.
	notReady bool
}

// createNode creates a Node and reports its capacity and readiness through
// the status subresource, as a kubelet would.
func (r *rig) createNode(ns nodeSpec) {
	r.t.Helper()
	labels := map[string]string{corev1.LabelHostname: ns.name}
	for k, v := range ns.labels {
		labels[k] = v
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: ns.taints},
	}
	created, err := r.client.CoreV1().Nodes().Create(r.ctx, node, metav1.CreateOptions{})
	if err != nil {
		r.t.Fatalf("creating node %s: %v", ns.name, err)
	}
	if ns.pods == 0 {
		ns.pods = 110
	}
	list := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(ns.cpu),
		corev1.ResourceMemory:           resource.MustParse(ns.memory),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		corev1.ResourcePods:             *resource.NewQuantity(ns.pods, resource.DecimalSI),
	}
	ready := corev1.ConditionTrue
	if ns.notReady {
		ready = corev1.ConditionFalse
	}
	created.Status = corev1.NodeStatus{
		Capacity:    list,
		Allocatable: list,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	if _, err := r.client.CoreV1().Nodes().UpdateStatus(r.ctx, created, metav1.UpdateOptions{}); err != nil {
		r.t.Fatalf("node %s status: %v", ns.name, err)
	}
}

// testPod is a pod with one container requesting cpu and memory.
func testPod(name, cpu, memory string) *corev1.Pod {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		req[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault, Labels: map[string]string{}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "app:v1",
			Resources: corev1.ResourceRequirements{Requests: req}}}},
	}
}

// ownedBy makes pod look like a ReplicaSet's: a controller ownerReference
// (the owner need not exist; no garbage collector runs in these tests).
func ownedBy(pod *corev1.Pod, uid types.UID) *corev1.Pod {
	yes := true
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs",
		UID: uid, Controller: &yes}}
	return pod
}

func (r *rig) createPod(pod *corev1.Pod) {
	r.t.Helper()
	if _, err := r.client.CoreV1().Pods(pod.Namespace).Create(r.ctx, pod, metav1.CreateOptions{}); err != nil {
		r.t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
}

// waitFor polls cond every 20ms until it holds or 20s pass.
func (r *rig) waitFor(what string, cond func() (bool, error)) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

// waitBound waits until every named pod is bound and returns pod -> node.
func (r *rig) waitBound(names ...string) map[string]string {
	r.t.Helper()
	out := map[string]string{}
	r.waitFor(fmt.Sprintf("%d pods bound", len(names)), func() (bool, error) {
		for _, n := range names {
			if _, ok := out[n]; ok {
				continue
			}
			p, err := r.client.CoreV1().Pods(metav1.NamespaceDefault).Get(r.ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if p.Spec.NodeName == "" {
				return false, fmt.Errorf("pod %s not bound", n)
			}
			out[n] = p.Spec.NodeName
		}
		return true, nil
	})
	return out
}

func (r *rig) nodeOf(name string) string {
	r.t.Helper()
	return r.waitBound(name)[name]
}
