package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// assume runs a decision and assumes the pod where it was placed.
func assume(t *testing.T, c *schedCache, pod *corev1.Pod) (string, *fitError) {
	t.Helper()
	s := &Scheduler{cache: c, rand: newRand()}
	st := mustCycle(t, pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	n, fe := s.unsafeSchedule(st)
	if n == nil {
		return "", fe
	}
	c.unsafeAssume(st.pi, n)
	return n.name, nil
}

type usage struct {
	pods     int
	milliCPU int64
	memory   int64
	ports    int
}

func usageOf(c *schedCache, node string) usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	if n == nil {
		return usage{}
	}
	return usage{pods: len(n.pods), milliCPU: n.requested.milliCPU, memory: n.requested.memory, ports: len(n.ports)}
}

func TestCacheAssumeConfirmForget(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(c *schedCache, p *corev1.Pod, node string)
		want  map[string]usage
	}{
		{
			name:  "assumed pod counts on its node",
			after: func(*schedCache, *corev1.Pod, string) {},
			want:  map[string]usage{"a": {pods: 1, milliCPU: 1000, memory: 1 << 30, ports: 1}},
		},
		{
			name:  "informer confirmation counts it once",
			after: func(c *schedCache, p *corev1.Pod, node string) { c.addPod(on(node, p)) },
			want:  map[string]usage{"a": {pods: 1, milliCPU: 1000, memory: 1 << 30, ports: 1}},
		},
		{
			name:  "forgetting a failed binding frees the node",
			after: func(c *schedCache, p *corev1.Pod, _ string) { c.forget(p.UID) },
			want:  map[string]usage{"a": {}},
		},
		{
			name: "forget after confirmation keeps the bound pod",
			after: func(c *schedCache, p *corev1.Pod, node string) {
				c.addPod(on(node, p))
				c.forget(p.UID)
			},
			want: map[string]usage{"a": {pods: 1, milliCPU: 1000, memory: 1 << 30, ports: 1}},
		},
		{
			name:  "bound elsewhere than assumed moves it",
			after: func(c *schedCache, p *corev1.Pod, _ string) { c.addPod(on("b", p)) },
			want:  map[string]usage{"a": {}, "b": {pods: 1, milliCPU: 1000, memory: 1 << 30, ports: 1}},
		},
		{
			name: "finished pod frees its node",
			after: func(c *schedCache, p *corev1.Pod, node string) {
				done := on(node, p)
				done.Status.Phase = corev1.PodSucceeded
				c.addPod(done)
			},
			want: map[string]usage{"a": {}},
		},
		{
			name:  "deleted pod frees its node",
			after: func(c *schedCache, p *corev1.Pod, node string) { c.addPod(on(node, p)); c.removePod(p.UID) },
			want:  map[string]usage{"a": {}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// b is busy so the decision picks a.
			c := cacheWith(nodes(mkNode("a"), mkNode("b")), on("b", testPod("filler", "2500m", "1Gi")))
			p := withHostPort(testPod("p", "1", "1Gi"), "", "", 80)
			p.UID = "uid-p"
			node, fe := assume(t, c, p)
			if node != "a" {
				t.Fatalf("placed on %q (%v), want a", node, fe)
			}
			tc.after(c, p, node)
			for n, want := range tc.want {
				if n == "b" {
					want.pods++
					want.milliCPU += 2500
					want.memory += 1 << 30
				}
				if got := usageOf(c, n); got != want {
					t.Errorf("node %s usage = %+v, want %+v", n, got, want)
				}
			}
		})
	}
}

// TestCacheConsecutiveDecisionsDoNotOversubscribe is why pods are assumed:
// the second decision must see the first pod before any informer event.
func TestCacheConsecutiveDecisionsDoNotOversubscribe(t *testing.T) {
	c := cacheWith(nodes(mkNode("a", withAlloc("1", "8Gi", 110))))
	if node, fe := assume(t, c, testPod("first", "600m", "")); node != "a" {
		t.Fatalf("first pod: %v", fe)
	}
	node, fe := assume(t, c, testPod("second", "600m", ""))
	if node != "" || fe == nil || fe.Error() != "0/1 nodes are available: 1 Insufficient cpu." {
		t.Errorf("second pod placed on %q with %v, want 0/1 nodes are available: 1 Insufficient cpu.", node, fe)
	}
	withPort := func(name string) *corev1.Pod { return withHostPort(testPod(name, "", ""), "", "", 9000) }
	c = cacheWith(nodes(mkNode("a")))
	assume(t, c, withPort("p1"))
	if _, fe := assume(t, c, withPort("p2")); fe == nil {
		t.Errorf("second pod with the same host port fitted, want rejected")
	}
}

func TestCacheNodeLifecycle(t *testing.T) {
	c := cacheWith(nodes(mkNode("a"), mkNode("b")), on("a", testPod("p", "1", "")))
	c.removeNode("a")
	if len(c.nodeList) != 1 || c.nodeList[0].name != "b" || c.nodeList[0].index != 0 {
		t.Fatalf("node list after removing a: %v", c.nodeList)
	}
	if n := c.nodes["a"]; n == nil || n.node != nil || len(n.pods) != 1 {
		t.Fatalf("a should stay as a ghost holding its pod, got %+v", n)
	}
	// The pod leaves: the ghost goes with it.
	c.removePod("uid-default-p")
	if _, ok := c.nodes["a"]; ok {
		t.Errorf("ghost node a still cached after its last pod left")
	}
	// A node comes back and is listed again; an update keeps one entry.
	c.setNode(mkNode("a"))
	c.setNode(mkNode("a", withLabels("x", "y")))
	if len(c.nodeList) != 2 || c.nodes["a"].node.Labels["x"] != "y" {
		t.Errorf("node list = %d entries, labels %v; want 2 with the update applied", len(c.nodeList), c.nodes["a"].node.Labels)
	}
	// Allocatable changes are seen by the filter at once.
	c.setNode(mkNode("b", withAlloc("1", "1Gi", 110)))
	if got := c.nodes["b"].allocatable.milliCPU; got != 1000 {
		t.Errorf("allocatable cpu after update = %dm, want 1000m", got)
	}
}

func TestCacheIndexes(t *testing.T) {
	rs := types.UID("rs-1")
	leaving := on("b", ownedBy(app("w3", "web"), rs))
	now := metav1.Now()
	c := cacheWith(nodes(mkNode("a"), mkNode("b")),
		on("a", ownedBy(app("w1", "web"), rs)), on("a", ownedBy(app("w2", "web"), rs)),
		on("b", app("d1", "db")), leaving)

	candidates := func(sel string) int {
		s, err := labels.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		c.mu.Lock()
		c.unsafeCandidates(s, []string{"default"}, func(p *podInfo) {
			if s.Matches(labels.Set(p.pod.Labels)) {
				n++
			}
		})
		c.mu.Unlock()
		return n
	}
	if got := candidates("app=web"); got != 3 {
		t.Errorf("app=web candidates = %d, want 3", got)
	}
	if got := candidates("app in (web,db)"); got != 4 {
		t.Errorf("app in (web,db) = %d, want 4", got)
	}
	if got := candidates("app"); got != 4 {
		t.Errorf("app (exists, namespace walk) = %d, want 4", got)
	}
	if got := c.ownerCounts[rs]; got[c.nodes["a"]] != 2 || got[c.nodes["b"]] != 1 {
		t.Errorf("owner counts = %v, want a:2 b:1", got)
	}
	// A pod that starts terminating stops counting for spreading.
	del := leaving.DeepCopy()
	del.DeletionTimestamp = &now
	c.addPod(del)
	if got := c.ownerCounts[rs][c.nodes["b"]]; got != 0 {
		t.Errorf("terminating pod still counted: %d", got)
	}
	// Relabelled pods move in the label index.
	moved := on("b", app("d1", "cache"))
	c.addPod(moved)
	if got := candidates("app=db"); got != 0 {
		t.Errorf("app=db after relabel = %d, want 0", got)
	}
	c.removePod(del.UID)
	c.removePod("uid-default-w1")
	c.removePod("uid-default-w2")
	if _, ok := c.ownerCounts[rs]; ok || len(c.byOwner) != 0 {
		t.Errorf("owner index not emptied: %v %v", c.ownerCounts, c.byOwner)
	}
}
