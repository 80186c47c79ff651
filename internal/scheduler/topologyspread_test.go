package scheduler

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func spreadOn(pod *corev1.Pod, key string, maxSkew int32, action corev1.UnsatisfiableConstraintAction, mutate ...func(*corev1.TopologySpreadConstraint)) *corev1.Pod {
	c := corev1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: action,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}
	for _, m := range mutate {
		m(&c)
	}
	pod.Spec.TopologySpreadConstraints = append(pod.Spec.TopologySpreadConstraints, c)
	return pod
}

func web(name string) *corev1.Pod { return labelled(testPod(name, "100m", "100Mi"), "app", "web") }

func TestFilterPodTopologySpread(t *testing.T) {
	zoned := func(name, zone string) *corev1.Node { return mkNode(name, withLabels("zone", zone)) }
	three := nodes(zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z2"))
	for _, tc := range []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     map[string]string
	}{
		{
			// The worked example: 1, 0, 0 replicas, maxSkew 1.
			name: "hostname maxSkew 1", nodes: three, existing: []*corev1.Pod{on("a", web("w1"))},
			pod:  spreadOn(web("new"), corev1.LabelHostname, 1, corev1.DoNotSchedule),
			want: map[string]string{"a": reasonSpreadConstraints, "b": "", "c": ""},
		},
		{
			name: "zone maxSkew 1: z1 has 2, z2 has 0", nodes: three,
			existing: []*corev1.Pod{on("a", web("w1")), on("b", web("w2"))},
			pod:      spreadOn(web("new"), "zone", 1, corev1.DoNotSchedule),
			want:     map[string]string{"a": reasonSpreadConstraints, "b": reasonSpreadConstraints, "c": ""},
		},
		{
			name: "pods of other apps and namespaces and terminating pods do not count", nodes: three,
			existing: []*corev1.Pod{on("a", labelled(testPod("other", "", ""), "app", "db")),
				on("a", func() *corev1.Pod { p := web("elsewhere"); p.Namespace = "other"; return p }()),
				on("a", func() *corev1.Pod { p := web("leaving"); now := metav1.Now(); p.DeletionTimestamp = &now; return p }())},
			pod:  spreadOn(web("new"), corev1.LabelHostname, 1, corev1.DoNotSchedule),
			want: map[string]string{"a": "", "b": "", "c": ""},
		},
		{
			name: "a pod its own selector does not match adds no skew", nodes: three,
			existing: []*corev1.Pod{on("a", web("w1"))},
			pod:      spreadOn(labelled(testPod("new", "", ""), "app", "other"), corev1.LabelHostname, 1, corev1.DoNotSchedule),
			want:     map[string]string{"a": "", "b": "", "c": ""},
		},
		{
			name: "node without the topology key", nodes: nodes(zoned("a", "z1"), mkNode("nozone")),
			pod:  spreadOn(web("new"), "zone", 1, corev1.DoNotSchedule),
			want: map[string]string{"a": "", "nozone": reasonSpreadMissingLabel},
		},
		{
			// Two zones with 1 and 2 pods: without minDomains the minimum is 1
			// and z1 fits (1+1-1 = 1); with minDomains 3 it is 0 and z1
			// would make 2.
			name: "minDomains raises the bar", nodes: nodes(zoned("a", "z1"), zoned("c", "z2"), zoned("d", "z2")),
			existing: []*corev1.Pod{on("a", web("w1")), on("c", web("w2")), on("d", web("w3"))},
			pod: spreadOn(web("new"), "zone", 1, corev1.DoNotSchedule, func(c *corev1.TopologySpreadConstraint) {
				three := int32(3)
				c.MinDomains = &three
			}),
			want: map[string]string{"a": reasonSpreadConstraints, "c": reasonSpreadConstraints, "d": reasonSpreadConstraints},
		},
		{
			// The node the pod's nodeSelector excludes is not a domain, so
			// its zero does not hold the minimum down.
			name:     "nodes the pod cannot use are not domains (nodeAffinityPolicy Honor)",
			nodes:    nodes(mkNode("a", withLabels("pool", "x")), mkNode("b", withLabels("pool", "x")), mkNode("c")),
			existing: []*corev1.Pod{on("a", web("w1")), on("b", web("w2"))},
			pod: func() *corev1.Pod {
				p := spreadOn(web("new"), corev1.LabelHostname, 1, corev1.DoNotSchedule)
				p.Spec.NodeSelector = map[string]string{"pool": "x"}
				return p
			}(),
			want: map[string]string{"a": "", "b": "", "c": reasonNodeAffinity},
		},
		{
			name: "matchLabelKeys narrow the selector to the pod's own value", nodes: three,
			existing: []*corev1.Pod{on("a", labelled(web("old-rev"), "rev", "1"))},
			pod: spreadOn(labelled(web("new"), "rev", "2"), corev1.LabelHostname, 1, corev1.DoNotSchedule, func(c *corev1.TopologySpreadConstraint) {
				c.MatchLabelKeys = []string{"rev"}
			}),
			want: map[string]string{"a": "", "b": "", "c": ""},
		},
		{
			name: "ScheduleAnyway never filters", nodes: three, existing: []*corev1.Pod{on("a", web("w1")), on("a", web("w2"))},
			pod:  spreadOn(web("new"), corev1.LabelHostname, 1, corev1.ScheduleAnyway),
			want: map[string]string{"a": "", "b": "", "c": ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := verdicts(t, cacheWith(tc.nodes, tc.existing...), tc.pod)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("verdicts = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScorePodTopologySpread(t *testing.T) {
	t.Run("default spreading counts the controller's pods", func(t *testing.T) {
		rs := types.UID("rs-1")
		c := cacheWith(nodes(mkNode("a"), mkNode("b"), mkNode("c")),
			on("a", ownedBy(testPod("r1", "", ""), rs)), on("a", ownedBy(testPod("r2", "", ""), rs)),
			on("b", ownedBy(testPod("r3", "", ""), rs)),
			on("c", ownedBy(testPod("stranger1", "", ""), "rs-2")), on("c", ownedBy(testPod("stranger2", "", ""), "rs-2")))
		st := mustCycle(t, ownedBy(testPod("new", "", ""), rs))
		c.mu.Lock()
		defer c.mu.Unlock()
		st.spreadScore = c.unsafePrepareSpreadScore(st, c.nodeList)
		if got := len(st.spreadScore.constraints); got != 1 {
			t.Fatalf("constraints = %d, want only hostname (no node has a zone)", got)
		}
		raw := map[string]int64{}
		scores := make([]int64, len(c.nodeList))
		for i, n := range c.nodeList {
			scores[i] = scorePodTopologySpread(st, n)
			raw[n.name] = scores[i]
		}
		// weight log(3+2) = 1.609; counts 2, 1, 0; + maxSkew-1 = 2:
		// round(5.22) = 5, round(3.61) = 4, 2.
		if want := map[string]int64{"a": 5, "b": 4, "c": 2}; !reflect.DeepEqual(raw, want) {
			t.Errorf("raw scores = %v, want %v", raw, want)
		}
		normalizeSpread(scores, c.nodeList, st.spreadScore)
		norm := map[string]int64{}
		for i, n := range c.nodeList {
			norm[n.name] = scores[i]
		}
		// 100*(5+2-s)/5: 40, 60, 100.
		if want := map[string]int64{"a": 40, "b": 60, "c": 100}; !reflect.DeepEqual(norm, want) {
			t.Errorf("normalized = %v, want %v", norm, want)
		}
	})
	t.Run("normalize worked example", func(t *testing.T) {
		ns := []*nodeInfo{{name: "x"}, {name: "y"}, {name: "z"}}
		scores := []int64{3, 5, 4}
		normalizeSpread(scores, ns, &spreadScoreState{ignored: map[*nodeInfo]bool{}})
		if want := []int64{100, 60, 80}; !reflect.DeepEqual(scores, want) {
			t.Errorf("normalized = %v, want %v", scores, want)
		}
	})
	t.Run("explicit soft constraint ignores nodes without the key", func(t *testing.T) {
		c := cacheWith(nodes(mkNode("a", withLabels("zone", "z1")), mkNode("b")))
		st := mustCycle(t, spreadOn(web("new"), "zone", 1, corev1.ScheduleAnyway))
		c.mu.Lock()
		defer c.mu.Unlock()
		st.spreadScore = c.unsafePrepareSpreadScore(st, c.nodeList)
		if !st.spreadScore.ignored[c.nodes["b"]] || st.spreadScore.ignored[c.nodes["a"]] {
			t.Errorf("ignored = %v, want only b", st.spreadScore.ignored)
		}
	})
	t.Run("replicas go to the node with fewest siblings", func(t *testing.T) {
		rs := types.UID("rs-1")
		c := cacheWith(nodes(mkNode("a"), mkNode("b")),
			on("a", ownedBy(testPod("r1", "100m", "100Mi"), rs)),
			// b is busier, but with pods of another controller.
			on("b", testPod("big", "200m", "200Mi")))
		if got, _ := decide(t, c, ownedBy(testPod("new", "100m", "100Mi"), rs)); got != "b" {
			t.Errorf("replica went to %s, want b (a already has a sibling)", got)
		}
	})
}
