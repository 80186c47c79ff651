package podgc

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

func pod(name string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: metav1.NewTime(t0)}}
	for _, m := range mods {
		m(p)
	}
	return p
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func created(d time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(d)) }
}
func onNode(n string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func terminating(p *corev1.Pod) {
	ts := metav1.NewTime(t0)
	p.DeletionTimestamp = &ts
}
func evicted(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }

func names(pods []*corev1.Pod) []string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestTerminatedToDelete(t *testing.T) {
	pods := []*corev1.Pod{
		pod("running", phase(corev1.PodRunning), created(-time.Hour)),
		pod("c", phase(corev1.PodSucceeded), created(2*time.Second)),
		pod("a", phase(corev1.PodFailed), created(0)),
		pod("b", phase(corev1.PodSucceeded), created(time.Second)),
		pod("b2", phase(corev1.PodSucceeded), created(time.Second)),
		pod("d", evicted, created(time.Hour)),
	}
	cases := []struct {
		threshold int
		want      []string
	}{
		{threshold: 5, want: []string{}},
		{threshold: 10, want: []string{}},
		// Evicted first, then oldest, names break the tie between b and b2.
		{threshold: 3, want: []string{"d", "a"}},
		{threshold: 2, want: []string{"d", "a", "b"}},
		{threshold: 1, want: []string{"d", "a", "b", "b2"}},
	}
	for _, tc := range cases {
		if got := names(terminatedToDelete(pods, tc.threshold)); !slices.Equal(got, tc.want) {
			t.Errorf("threshold %d: got %v, want %v", tc.threshold, got, tc.want)
		}
	}
}

func TestTerminatingOnOutOfServiceNodes(t *testing.T) {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	notReady := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}
	oos := corev1.Taint{Key: corev1.TaintNodeOutOfService, Effect: corev1.TaintEffectNoExecute}
	node := func(name string, c corev1.NodeCondition, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.NodeSpec{Taints: taints}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{c}}}
	}
	nodes := []*corev1.Node{
		node("dead-oos", notReady, oos),
		node("dead", notReady),
		node("ready-oos", ready, oos),
	}
	pods := []*corev1.Pod{
		pod("hit", onNode("dead-oos"), terminating),
		pod("not-terminating", onNode("dead-oos")),
		pod("no-taint", onNode("dead"), terminating),
		pod("node-ready", onNode("ready-oos"), terminating),
	}
	if got := names(terminatingOnOutOfServiceNodes(pods, nodes)); !slices.Equal(got, []string{"hit"}) {
		t.Fatalf("got %v, want [hit]", got)
	}
}

func TestUnscheduledTerminating(t *testing.T) {
	pods := []*corev1.Pod{pod("hit", terminating), pod("bound", terminating, onNode("n")), pod("alive")}
	if got := names(unscheduledTerminating(pods)); !slices.Equal(got, []string{"hit"}) {
		t.Fatalf("got %v, want [hit]", got)
	}
}

func TestQuarantine(t *testing.T) {
	q := quarantine{}
	nodes := []*corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "alive"}}}
	pods := []*corev1.Pod{pod("a", onNode("gone")), pod("b", onNode("alive")), pod("c")}
	wait := 40 * time.Second

	if got := q.expired(pods, nodes, t0, wait); len(got) != 0 {
		t.Fatalf("first sighting: got %v, want nothing", got)
	}
	if got := q.expired(pods, nodes, t0.Add(39*time.Second), wait); len(got) != 0 {
		t.Fatalf("before the quarantine ends: got %v", got)
	}
	if got := q.expired(pods, nodes, t0.Add(40*time.Second), wait); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("after the quarantine: got %v, want [gone]", got)
	}
	// The node comes back: it is forgotten, and a later disappearance
	// starts a new quarantine.
	back := append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone"}})
	q.expired(pods, back, t0.Add(50*time.Second), wait)
	if _, ok := q["gone"]; ok {
		t.Fatal("a node that reappeared is still quarantined")
	}
	if got := q.expired(pods, nodes, t0.Add(60*time.Second), wait); len(got) != 0 {
		t.Fatalf("new quarantine: got %v", got)
	}
	// Its pods are gone: nothing left to check.
	q.expired(nil, nodes, t0.Add(200*time.Second), wait)
	if len(q) != 0 {
		t.Fatalf("quarantine not emptied: %v", q)
	}
}

func TestFailedStatusPatch(t *testing.T) {
	now := metav1.NewTime(t0)
	raw, err := failedStatusPatch("u1", &corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: ReasonDeletionByPodGC}, now)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Status   corev1.PodStatus  `json:"status"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.UID != "u1" || got.Status.Phase != corev1.PodFailed || len(got.Status.Conditions) != 1 ||
		got.Status.Conditions[0].Reason != ReasonDeletionByPodGC || !got.Status.Conditions[0].LastTransitionTime.Equal(&now) {
		t.Fatalf("patch = %s", raw)
	}
	raw, _ = failedStatusPatch("u1", nil, now)
	if string(raw) != `{"metadata":{"uid":"u1"},"status":{"phase":"Failed"}}` {
		t.Fatalf("patch without condition = %s", raw)
	}
}
