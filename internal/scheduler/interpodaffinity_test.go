package scheduler

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func term(key string, app string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}
}

func requireAffinity(pod *corev1.Pod, terms ...corev1.PodAffinityTerm) *corev1.Pod {
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	pod.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	return pod
}

func requireAnti(pod *corev1.Pod, terms ...corev1.PodAffinityTerm) *corev1.Pod {
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	pod.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	return pod
}

func app(name, value string) *corev1.Pod { return labelled(testPod(name, "", ""), "app", value) }

func TestFilterInterPodAffinity(t *testing.T) {
	zoned := nodes(mkNode("a", withLabels("zone", "z1")), mkNode("b", withLabels("zone", "z1")), mkNode("c", withLabels("zone", "z2")))
	for _, tc := range []struct {
		name     string
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     map[string]string
	}{
		{
			name: "affinity by hostname", existing: []*corev1.Pod{on("a", app("cache", "cache"))},
			pod:  requireAffinity(app("new", "web"), term(corev1.LabelHostname, "cache")),
			want: map[string]string{"a": "", "b": reasonAffinityRules, "c": reasonAffinityRules},
		},
		{
			name: "affinity by zone", existing: []*corev1.Pod{on("a", app("cache", "cache"))},
			pod:  requireAffinity(app("new", "web"), term("zone", "cache")),
			want: map[string]string{"a": "", "b": "", "c": reasonAffinityRules},
		},
		{
			name: "no matching pod anywhere, pod does not match itself",
			pod:  requireAffinity(app("new", "web"), term("zone", "cache")),
			want: map[string]string{"a": reasonAffinityRules, "b": reasonAffinityRules, "c": reasonAffinityRules},
		},
		{
			name: "first pod of a group that wants to be together",
			pod:  requireAffinity(app("new", "cache"), term("zone", "cache")),
			want: map[string]string{"a": "", "b": "", "c": ""},
		},
		{
			name: "affinity term in another namespace does not see default's pods", existing: []*corev1.Pod{on("a", app("cache", "cache"))},
			pod: func() *corev1.Pod {
				tm := term("zone", "cache")
				tm.Namespaces = []string{"other"}
				return requireAffinity(app("new", "web"), tm)
			}(),
			want: map[string]string{"a": reasonAffinityRules, "b": reasonAffinityRules, "c": reasonAffinityRules},
		},
		{
			name:     "affinity with an empty namespaceSelector sees every namespace",
			existing: []*corev1.Pod{on("c", func() *corev1.Pod { p := app("cache", "cache"); p.Namespace = "other"; return p }())},
			pod: func() *corev1.Pod {
				tm := term("zone", "cache")
				tm.NamespaceSelector = &metav1.LabelSelector{}
				return requireAffinity(app("new", "web"), tm)
			}(),
			want: map[string]string{"a": reasonAffinityRules, "b": reasonAffinityRules, "c": ""},
		},
		{
			name: "anti-affinity by hostname", existing: []*corev1.Pod{on("a", app("db-0", "db"))},
			pod:  requireAnti(app("db-1", "db"), term(corev1.LabelHostname, "db")),
			want: map[string]string{"a": reasonAntiAffinityRules, "b": "", "c": ""},
		},
		{
			name: "anti-affinity by zone", existing: []*corev1.Pod{on("a", app("db-0", "db"))},
			pod:  requireAnti(app("db-1", "db"), term("zone", "db")),
			want: map[string]string{"a": reasonAntiAffinityRules, "b": reasonAntiAffinityRules, "c": ""},
		},
		{
			name:     "existing pod's anti-affinity keeps the newcomer away",
			existing: []*corev1.Pod{on("b", requireAnti(app("loner", "loner"), term(corev1.LabelHostname, "web")))},
			pod:      app("new", "web"),
			want:     map[string]string{"a": "", "b": reasonExistingAntiAffinityRule, "c": ""},
		},
		{
			name:     "existing pod's anti-affinity by zone",
			existing: []*corev1.Pod{on("b", requireAnti(app("loner", "loner"), term("zone", "web")))},
			pod:      app("new", "web"),
			want:     map[string]string{"a": reasonExistingAntiAffinityRule, "b": reasonExistingAntiAffinityRule, "c": ""},
		},
		{
			name:     "existing anti-affinity for other apps does not apply",
			existing: []*corev1.Pod{on("b", requireAnti(app("loner", "loner"), term(corev1.LabelHostname, "db")))},
			pod:      app("new", "web"),
			want:     map[string]string{"a": "", "b": "", "c": ""},
		},
		{
			name:     "a node without the affinity topology key fails",
			existing: []*corev1.Pod{on("a", app("cache", "cache"))},
			pod:      requireAffinity(app("new", "web"), term("rack", "cache")),
			want:     map[string]string{"a": reasonAffinityRules, "b": reasonAffinityRules, "c": reasonAffinityRules},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := verdicts(t, cacheWith(zoned, tc.existing...), tc.pod)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("verdicts = %v, want %v", got, tc.want)
			}
		})
	}
}

func preferAffinity(pod *corev1.Pod, weight int32, t corev1.PodAffinityTerm, anti bool) *corev1.Pod {
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	w := []corev1.WeightedPodAffinityTerm{{Weight: weight, PodAffinityTerm: t}}
	if anti {
		pod.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: w}
	} else {
		pod.Spec.Affinity.PodAffinity = &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: w}
	}
	return pod
}

func TestScoreInterPodAffinity(t *testing.T) {
	zoned := nodes(mkNode("a", withLabels("zone", "z1")), mkNode("b", withLabels("zone", "z1")), mkNode("c", withLabels("zone", "z2")))
	for _, tc := range []struct {
		name     string
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     map[string]int64 // raw scores; nil: the plugin has nothing to score
	}{
		{name: "nothing to score", existing: []*corev1.Pod{on("a", app("x", "x"))}, pod: app("new", "web")},
		{
			name: "preferred affinity to a zone", existing: []*corev1.Pod{on("a", app("cache", "cache"))},
			pod:  preferAffinity(app("new", "web"), 10, term("zone", "cache"), false),
			want: map[string]int64{"a": 10, "b": 10, "c": 0},
		},
		{
			name: "preferred anti-affinity per host", existing: []*corev1.Pod{on("a", app("w1", "web")), on("a", app("w2", "web")), on("b", app("w3", "web"))},
			pod:  preferAffinity(app("new", "web"), 5, term(corev1.LabelHostname, "web"), true),
			want: map[string]int64{"a": -10, "b": -5, "c": 0},
		},
		{
			name:     "existing pod's required affinity attracts with the hard weight 1",
			existing: []*corev1.Pod{on("c", requireAffinity(app("fan", "fan"), term(corev1.LabelHostname, "web")))},
			pod:      app("new", "web"),
			want:     map[string]int64{"a": 0, "b": 0, "c": 1},
		},
		{
			name:     "existing pod's preferred anti-affinity repels",
			existing: []*corev1.Pod{on("c", preferAffinity(app("shy", "shy"), 7, term("zone", "web"), true))},
			pod:      app("new", "web"),
			want:     map[string]int64{"a": 0, "b": 0, "c": -7},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cacheWith(zoned, tc.existing...)
			st := mustCycle(t, tc.pod)
			c.mu.Lock()
			st.affinityScore = c.unsafePrepareAffinityScore(st)
			c.mu.Unlock()
			if tc.want == nil {
				if st.affinityScore != nil {
					t.Errorf("topology scores = %v, want none", st.affinityScore)
				}
				return
			}
			got := scoresOf(t, c, tc.pod, func(_ *cycleState, n *nodeInfo) int64 { return scoreInterPodAffinity(st, n) })
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("raw scores = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("decision follows preferred affinity", func(t *testing.T) {
		c := cacheWith(zoned, on("c", app("cache", "cache")))
		for range 10 {
			if got, _ := decide(t, c, preferAffinity(testPod("new", "100m", "100Mi"), 50, term(corev1.LabelHostname, "cache"), false)); got != "c" {
				t.Fatalf("chose %s, want c next to the cache", got)
			}
		}
	})
}
