package scheduler

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestScoreLeastAllocated(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		node     *corev1.Node
		existing []*corev1.Pod
		want     int64
	}{
		// The worked example: cpu (4000-2000)*100/4000 = 50, memory
		// (8Gi-4Gi)*100/8Gi = 50.
		{name: "half used after placing", pod: testPod("p", "1", "2Gi"), node: mkNode("n"),
			existing: []*corev1.Pod{on("n", testPod("old", "1", "2Gi"))}, want: 50},
		{name: "empty node, small pod", pod: testPod("p", "400m", "800Mi"), node: mkNode("n"), want: 90},
		// 100m and 200Mi scoring defaults: cpu (4000-100)*100/4000 = 97,
		// memory (8192-200)*100/8192 = 97.
		{name: "best-effort pod scored at defaults", pod: testPod("p", "", ""), node: mkNode("n"), want: 97},
		{name: "overcommitted resource scores 0", pod: testPod("p", "8", "4Gi"), node: mkNode("n"), want: 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cacheWith(nodes(tc.node), tc.existing...)
			if got := scoresOf(t, c, tc.pod, scoreLeastAllocated)["n"]; got != tc.want {
				t.Errorf("score = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestScoreBalancedAllocation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		existing []*corev1.Pod
		want     int64
	}{
		{name: "equal fractions", pod: testPod("p", "2", "4Gi"), want: 100},
		// 2/4 cpu and 2.4/8 memory (30%): std 0.1, score 90.
		{name: "worked example 50% cpu 30% memory", pod: testPod("p", "1", "1228.8Mi"),
			existing: []*corev1.Pod{on("n", testPod("old", "1", "1228.8Mi"))}, want: 90},
		{name: "all cpu no memory", pod: testPod("p", "4", ""), want: 50},
		// Requests, not scoring defaults: a best-effort pod on an empty
		// node looks perfectly balanced (the plugin is skipped for it
		// anyway).
		{name: "actual requests only", pod: testPod("p", "", ""), want: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cacheWith(nodes(mkNode("n")), tc.existing...)
			if got := scoresOf(t, c, tc.pod, scoreBalancedAllocation)["n"]; got != tc.want {
				t.Errorf("score = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestScoreTaintToleration(t *testing.T) {
	soft := func(k string) nodeOpt { return withTaint(k, "", corev1.TaintEffectPreferNoSchedule) }
	c := cacheWith(nodes(mkNode("clean"), mkNode("one", soft("a")), mkNode("two", soft("a"), soft("b")),
		mkNode("hard", withTaint("c", "", corev1.TaintEffectNoSchedule))))
	got := scoresOf(t, c, testPod("p", "", ""), scoreTaintToleration)
	want := map[string]int64{"clean": 0, "one": 1, "two": 2, "hard": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("untolerated PreferNoSchedule counts = %v, want %v", got, want)
	}
	tolerant := tolerating(testPod("p", "", ""), corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectPreferNoSchedule},
		corev1.Toleration{Key: "b", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	got = scoresOf(t, c, tolerant, scoreTaintToleration)
	want = map[string]int64{"clean": 0, "one": 0, "two": 1, "hard": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with tolerations (b's is NoSchedule only) = %v, want %v", got, want)
	}
}

func TestScoreNodeAffinity(t *testing.T) {
	c := cacheWith(nodes(mkNode("ssd", withLabels("disk", "ssd")), mkNode("fast", withLabels("disk", "ssd", "net", "fast")), mkNode("none")))
	p := testPod("p", "", "")
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
		{Weight: 10, Preference: expr("disk", corev1.NodeSelectorOpIn, "ssd")},
		{Weight: 5, Preference: expr("net", corev1.NodeSelectorOpExists)},
	}}}
	got := scoresOf(t, c, p, scoreNodeAffinity)
	want := map[string]int64{"ssd": 10, "fast": 15, "none": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("preferred node affinity = %v, want %v", got, want)
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func([]int64)
		in   []int64
		want []int64
	}{
		{"default", func(s []int64) { normalizeDefault(s, false) }, []int64{2, 1, 0}, []int64{100, 50, 0}},
		{"default reversed", func(s []int64) { normalizeDefault(s, true) }, []int64{2, 1, 0}, []int64{0, 50, 100}},
		{"default all zero", func(s []int64) { normalizeDefault(s, false) }, []int64{0, 0}, []int64{0, 0}},
		{"default reversed all zero", func(s []int64) { normalizeDefault(s, true) }, []int64{0, 0}, []int64{100, 100}},
		{"min-max", normalizeMinMax, []int64{-5, 0, 5}, []int64{0, 50, 100}},
		{"min-max equal", normalizeMinMax, []int64{3, 3}, []int64{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := append([]int64(nil), tc.in...)
			tc.fn(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("normalize(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestSelectHostPreferences checks the weighted sum picks what each score
// plugin prefers when the others are indifferent.
func TestSelectHostPreferences(t *testing.T) {
	t.Run("least allocated", func(t *testing.T) {
		c := cacheWith(nodes(mkNode("busy"), mkNode("idle")), on("busy", testPod("old", "3", "6Gi")))
		if got, fe := decide(t, c, testPod("p", "500m", "1Gi")); got != "idle" {
			t.Errorf("chose %q (%v), want idle", got, fe)
		}
	})
	t.Run("PreferNoSchedule avoided", func(t *testing.T) {
		c := cacheWith(nodes(mkNode("soft", withTaint("x", "", corev1.TaintEffectPreferNoSchedule)), mkNode("clean")))
		for range 10 {
			if got, _ := decide(t, c, testPod("p", "500m", "1Gi")); got != "clean" {
				t.Fatalf("chose %q, want clean", got)
			}
		}
	})
	t.Run("preferred node affinity", func(t *testing.T) {
		c := cacheWith(nodes(mkNode("a"), mkNode("b", withLabels("zone", "x")), mkNode("c")))
		p := testPod("p", "500m", "1Gi")
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
			{Weight: 1, Preference: expr("zone", corev1.NodeSelectorOpIn, "x")}}}}
		for range 10 {
			if got, _ := decide(t, c, p); got != "b" {
				t.Fatalf("chose %q, want b", got)
			}
		}
	})
	t.Run("ties broken across nodes", func(t *testing.T) {
		c := cacheWith(nodes(mkNode("a"), mkNode("b"), mkNode("c")))
		s := &Scheduler{cache: c, rand: newRand()}
		seen := map[string]bool{}
		for range 60 {
			st := mustCycle(t, testPod("p", "100m", "100Mi"))
			c.mu.Lock()
			n, _ := s.unsafeSchedule(st)
			c.mu.Unlock()
			seen[n.name] = true
		}
		if len(seen) != 3 {
			t.Errorf("equal nodes chosen: %v, want all three over 60 draws", seen)
		}
	})
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	for _, tc := range []struct{ all, want int }{
		{3, 3}, {99, 99}, {100, 100}, {200, 100}, {1000, 420}, {5000, 500}, {10000, 500},
	} {
		if got := numFeasibleNodesToFind(tc.all); got != tc.want {
			t.Errorf("numFeasibleNodesToFind(%d) = %d, want %d", tc.all, got, tc.want)
		}
	}
}
