package nodelifecycle

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// kubelet plays a node's kubelet: it registers the node, posts Ready and
// keeps its lease renewed until stopped.
type kubelet struct {
	t      *testing.T
	client kubernetes.Interface
	name   string
}

func (k kubelet) register() {
	k.t.Helper()
	ctx := context.Background()
	node, err := k.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.name}}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	k.postReady(node)
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: k.name},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &k.name, RenewTime: &now}}
	if _, err := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, l, metav1.CreateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

func (k kubelet) postReady(node *corev1.Node) {
	k.t.Helper()
	now := metav1.Now()
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: now, LastTransitionTime: now}}
	if _, err := k.client.CoreV1().Nodes().UpdateStatus(context.Background(), node, metav1.UpdateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

func (k kubelet) renew(ctx context.Context) error {
	l, err := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, k.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &now
	_, err = k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the lease every 100ms until ctx ends.
func (k kubelet) heartbeat(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
			_ = k.renew(ctx)
		}
	}
}

func (k kubelet) runPod(name string, tolerations ...corev1.Toleration) {
	k.t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: k.name, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "example.com/app:1"}}}}
	p, err := k.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if _, err := k.client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

func startControllers(t *testing.T, s *servertest.Server, cfg Config) {
	t.Helper()
	client := kubernetes.NewForConfigOrDie(s.Config)
	factory := informers.NewSharedInformerFactory(client, 0)
	cc := controller.Context{Client: client, Informers: factory, Clock: clock.RealClock{},
		Recorder: func(string) record.EventRecorder { return &record.FakeRecorder{} }}
	lifecycle, err := New(cc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	eviction, err := NewTaintEviction(cc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- lifecycle.Run(ctx) }()
	go func() { done <- eviction.Run(ctx) }()
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		factory.Shutdown()
	})
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSilentNodeIsMarkedTaintedAndEvicted(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	c := s.Client
	alive := kubelet{t: t, client: c, name: "alive"}
	dead := kubelet{t: t, client: c, name: "dead"}
	alive.register()
	dead.register()
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	go alive.heartbeat(hbCtx)
	// The API server's DefaultTolerationSeconds admission gives pods without
	// their own toleration 300 s; tolerationSeconds 0 evicts at once.
	dead.runPod("intolerant", toleration(corev1.TaintNodeUnreachable, seconds(0)))
	dead.runPod("tolerant", toleration(corev1.TaintNodeUnreachable, seconds(2)))
	dead.runPod("forever", toleration(corev1.TaintNodeUnreachable, nil))
	alive.runPod("bystander")

	const grace = time.Second
	startControllers(t, s, Config{NodeMonitorPeriod: 100 * time.Millisecond, NodeMonitorGracePeriod: grace, NodeEvictionRate: 100})

	node := func(name string) (*corev1.Node, error) { return c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}) }
	pod := func(name string) (*corev1.Pod, error) {
		return c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	}

	eventually(t, "the silent node to be marked Unknown", func() error {
		n, err := node("dead")
		if err != nil {
			return err
		}
		r := findCondition(&n.Status, corev1.NodeReady)
		if r.Status != corev1.ConditionUnknown || r.Reason != ReasonNodeStatusUnknown || r.Message != messageStoppedPosting {
			return fmt.Errorf("ready = %+v", r)
		}
		return nil
	})
	eventually(t, "the unreachable taints", func() error {
		n, err := node("dead")
		if err != nil {
			return err
		}
		noSchedule := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
		if !hasTaint(n.Spec.Taints, unreachableTaint) || !hasTaint(n.Spec.Taints, noSchedule) {
			return fmt.Errorf("taints = %+v", n.Spec.Taints)
		}
		return nil
	})
	var evictedAt time.Time
	eventually(t, "the intolerant pod to be evicted", func() error {
		p, err := pod("intolerant")
		if err != nil || p.DeletionTimestamp == nil {
			return fmt.Errorf("pod %v, err %v", p.GetDeletionTimestamp(), err)
		}
		if !hasDisruptionCondition(p) {
			return fmt.Errorf("no DisruptionTarget condition: %+v", p.Status.Conditions)
		}
		evictedAt = time.Now()
		return nil
	})
	eventually(t, "the pods on the silent node to be marked not ready", func() error {
		p, err := pod("forever")
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady }); i < 0 ||
			p.Status.Conditions[i].Status != corev1.ConditionFalse {
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return nil
	})
	if p, err := pod("tolerant"); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("tolerant pod evicted before its 2s ran out (%v)", err)
	}
	eventually(t, "the tolerant pod to be evicted after 2s", func() error {
		p, err := pod("tolerant")
		if err != nil || p.DeletionTimestamp == nil {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})
	if waited := time.Since(evictedAt); waited < 1500*time.Millisecond {
		t.Errorf("tolerant pod evicted %v after the intolerant one, want about 2s", waited)
	}

	// The healthy node and its pod are untouched; the tolerating pod stays.
	for name, want := range map[string]corev1.ConditionStatus{"alive": corev1.ConditionTrue} {
		n, _ := node(name)
		if r := findCondition(&n.Status, corev1.NodeReady); r.Status != want || len(n.Spec.Taints) != 0 {
			t.Errorf("%s: ready %s, taints %v", name, r.Status, n.Spec.Taints)
		}
	}
	for _, name := range []string{"forever", "bystander"} {
		if p, err := pod(name); err != nil || p.DeletionTimestamp != nil {
			t.Errorf("%s deleted (%v)", name, err)
		}
	}

	// The kubelet comes back: the taints go.
	n, _ := node("dead")
	dead.postReady(n)
	if err := dead.renew(ctx); err != nil {
		t.Fatal(err)
	}
	go dead.heartbeat(hbCtx)
	eventually(t, "the taints to be removed", func() error {
		n, err := node("dead")
		if err != nil {
			return err
		}
		if len(n.Spec.Taints) != 0 {
			return fmt.Errorf("taints = %+v", n.Spec.Taints)
		}
		return nil
	})
}

// A single silent node in a single zone is a full disruption: the
// controller assumes it is the one cut off and evicts nothing.
func TestFullDisruptionStopsEvictions(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	ctx := context.Background()
	only := kubelet{t: t, client: s.Client, name: "only"}
	only.register()
	only.runPod("p")
	startControllers(t, s, Config{NodeMonitorPeriod: 100 * time.Millisecond, NodeMonitorGracePeriod: time.Second, NodeEvictionRate: 100})
	eventually(t, "the node to be marked Unknown", func() error {
		n, err := s.Client.CoreV1().Nodes().Get(ctx, "only", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if r := findCondition(&n.Status, corev1.NodeReady); r.Status != corev1.ConditionUnknown {
			return fmt.Errorf("ready %s", r.Status)
		}
		return nil
	})
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		n, _ := s.Client.CoreV1().Nodes().Get(ctx, "only", metav1.GetOptions{})
		p, _ := s.Client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if hasTaint(n.Spec.Taints, unreachableTaint) || p.DeletionTimestamp != nil {
			t.Fatalf("evicting during a full disruption: taints %v, pod deleted %v", n.Spec.Taints, p.DeletionTimestamp)
		}
	}
}
