package scheduler

import (
	"math/rand/v2"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type nodeOpt func(*corev1.Node)

// mkNode is a Ready node with 4 CPU, 8Gi and room for 110 pods, labelled
// with its hostname.
func mkNode(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	withAlloc("4", "8Gi", 110)(n)
	for _, o := range opts {
		o(n)
	}
	return n
}

func withAlloc(cpu, memory string, pods int64) nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Allocatable = corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse(cpu),
			corev1.ResourceMemory:           resource.MustParse(memory),
			corev1.ResourceEphemeralStorage: resource.MustParse("10Gi"),
			corev1.ResourcePods:             *resource.NewQuantity(pods, resource.DecimalSI),
		}
	}
}

func withExtended(name string, v int64) nodeOpt {
	return func(n *corev1.Node) {
		n.Status.Allocatable[corev1.ResourceName(name)] = *resource.NewQuantity(v, resource.DecimalSI)
	}
}

func withLabels(kv ...string) nodeOpt {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func withReady(s corev1.ConditionStatus) nodeOpt {
	return func(n *corev1.Node) {
		if s == "" {
			n.Status.Conditions = nil
			return
		}
		n.Status.Conditions[0].Status = s
	}
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

// on binds a copy of pod to node, with a UID derived from its name.
func on(node string, pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	p.Spec.NodeName = node
	if p.UID == "" {
		p.UID = types.UID("uid-" + p.Namespace + "-" + p.Name)
	}
	return p
}

func labelled(pod *corev1.Pod, kv ...string) *corev1.Pod {
	for i := 0; i+1 < len(kv); i += 2 {
		pod.Labels[kv[i]] = kv[i+1]
	}
	return pod
}

// cacheWith builds a cache from nodes and bound pods.
func cacheWith(nodes []*corev1.Node, pods ...*corev1.Pod) *schedCache {
	c := newSchedCache()
	for _, n := range nodes {
		c.setNode(n)
	}
	for _, p := range pods {
		c.addPod(p)
	}
	return c
}

func mustCycle(t *testing.T, pod *corev1.Pod) *cycleState {
	t.Helper()
	if pod.UID == "" {
		pod.UID = types.UID("uid-incoming-" + pod.Name)
	}
	st, err := newCycleState(pod, nil)
	if err != nil {
		t.Fatalf("cycle state: %v", err)
	}
	return st
}

// verdicts runs the whole filter chain (with the cache-level preparation
// of spreading and affinity) for pod on every node of c and returns node ->
// first reason, "" for a node that passes.
func verdicts(t *testing.T, c *schedCache, pod *corev1.Pod) map[string]string {
	t.Helper()
	st := mustCycle(t, pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(st.hardSpread) > 0 {
		st.spread = c.unsafePrepareSpreadFilter(st, st.hardSpread)
	}
	st.affinity = c.unsafePrepareAffinityFilter(st)
	out := map[string]string{}
	for _, n := range c.nodeList {
		v := filterNode(st, n)
		out[n.name] = ""
		if !v.passed() {
			out[n.name] = v.reasons[0]
		}
	}
	return out
}

// decide runs a whole decision on c without assuming.
func decide(t *testing.T, c *schedCache, pod *corev1.Pod) (string, *fitError) {
	t.Helper()
	s := &Scheduler{cache: c, rand: rand.New(rand.NewPCG(1, 2))}
	st := mustCycle(t, pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	n, fe := s.unsafeSchedule(st)
	if n == nil {
		return "", fe
	}
	return n.name, nil
}

// scoresOf returns node -> raw score of one scorer over every node.
func scoresOf(t *testing.T, c *schedCache, pod *corev1.Pod, score func(*cycleState, *nodeInfo) int64) map[string]int64 {
	t.Helper()
	st := mustCycle(t, pod)
	out := map[string]int64{}
	for _, n := range c.nodeList {
		out[n.name] = score(st, n)
	}
	return out
}

func sortedNames(m map[string]string, want string) []string {
	var out []string
	for k, v := range m {
		if v == want {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func nodes(ns ...*corev1.Node) []*corev1.Node { return ns }

func newRand() *rand.Rand { return rand.New(rand.NewPCG(7, 11)) }
