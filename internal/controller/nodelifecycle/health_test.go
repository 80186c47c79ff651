package nodelifecycle

import (
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

const (
	monitorGrace = 50 * time.Second
	startupGrace = 60 * time.Second
)

func readyNode(status corev1.ConditionStatus, heartbeat time.Time) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status,
		LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
	return n
}

func lease(renew time.Time) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &rt}}
}

// overdue runs observeHealth and says whether the node is past its grace.
func overdue(saved *nodeHealth, n *corev1.Node, l *coordinationv1.Lease, now time.Time) (*nodeHealth, bool) {
	h, grace := observeHealth(saved, n, l, now, monitorGrace, startupGrace)
	return h, now.After(h.probeTime.Add(grace))
}

func TestLeaseStaleness(t *testing.T) {
	node := readyNode(corev1.ConditionTrue, t0)
	// First sight: the probe time is now, whatever the node wrote.
	h, late := overdue(nil, node, lease(t0.Add(-time.Hour)), t0)
	if late || !h.probeTime.Equal(t0) {
		t.Fatalf("first sight: late=%v probe=%v", late, h.probeTime)
	}
	// The lease is renewed 40s later: the clock restarts then.
	h, late = overdue(h, node, lease(t0.Add(40*time.Second)), t0.Add(45*time.Second))
	if late || !h.probeTime.Equal(t0.Add(45*time.Second)) {
		t.Fatalf("renewal: late=%v probe=%v", late, h.probeTime)
	}
	// Nothing new until 50s after that: still fine at exactly the grace
	// period, overdue just after.
	h, late = overdue(h, node, lease(t0.Add(40*time.Second)), t0.Add(95*time.Second))
	if late {
		t.Fatal("overdue at exactly the grace period")
	}
	_, late = overdue(h, node, lease(t0.Add(40*time.Second)), t0.Add(95*time.Second+time.Millisecond))
	if !late {
		t.Fatal("not overdue after the grace period")
	}
	// A status heartbeat counts like a lease renewal.
	h2, late := overdue(h, readyNode(corev1.ConditionTrue, t0.Add(90*time.Second)), lease(t0.Add(40*time.Second)), t0.Add(100*time.Second))
	if late || !h2.probeTime.Equal(t0.Add(100*time.Second)) {
		t.Fatalf("status heartbeat: late=%v probe=%v", late, h2.probeTime)
	}
	// A renew time in the node's future does not extend anything beyond
	// the moment we saw it.
	h3, _ := overdue(h, node, lease(t0.Add(time.Hour)), t0.Add(60*time.Second))
	if !h3.probeTime.Equal(t0.Add(60 * time.Second)) {
		t.Fatalf("skewed lease: probe %v", h3.probeTime)
	}
}

func TestNeverPostedNodeGetsStartupGrace(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: metav1.NewTime(t0)}}
	h, late := overdue(nil, node, nil, t0.Add(59*time.Second))
	if late || !h.probeTime.Equal(t0) {
		t.Fatalf("within startup grace: late=%v probe=%v", late, h.probeTime)
	}
	if _, late = overdue(h, node, nil, t0.Add(61*time.Second)); !late {
		t.Fatal("not overdue after the startup grace period")
	}
}

func TestMarkUnknown(t *testing.T) {
	now := metav1.NewTime(t0)
	node := readyNode(corev1.ConditionTrue, t0.Add(-time.Minute))
	node.Status.Conditions = append(node.Status.Conditions,
		corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse})
	markUnknown(node, now)
	want := map[corev1.NodeConditionType]struct {
		status corev1.ConditionStatus
		reason string
	}{
		corev1.NodeReady:              {corev1.ConditionUnknown, ReasonNodeStatusUnknown},
		corev1.NodeMemoryPressure:     {corev1.ConditionUnknown, ReasonNodeStatusUnknown},
		corev1.NodeDiskPressure:       {corev1.ConditionUnknown, ReasonNodeStatusNeverUpdated},
		corev1.NodePIDPressure:        {corev1.ConditionUnknown, ReasonNodeStatusNeverUpdated},
		corev1.NodeNetworkUnavailable: {corev1.ConditionFalse, ""},
	}
	for typ, w := range want {
		c := findCondition(&node.Status, typ)
		if c == nil || c.Status != w.status || c.Reason != w.reason {
			t.Errorf("%s = %+v, want %s/%s", typ, c, w.status, w.reason)
		}
	}
	ready := findCondition(&node.Status, corev1.NodeReady)
	if ready.Message != "Kubelet stopped posting node status." || !ready.LastTransitionTime.Equal(&now) ||
		!ready.LastHeartbeatTime.Equal(&metav1.Time{Time: t0.Add(-time.Minute)}) {
		t.Errorf("ready = %+v", ready)
	}
	// Already Unknown: nothing moves.
	before := node.DeepCopy()
	markUnknown(node, metav1.NewTime(t0.Add(time.Hour)))
	if !slices.EqualFunc(before.Status.Conditions, node.Status.Conditions, func(a, b corev1.NodeCondition) bool { return a.LastTransitionTime.Equal(&b.LastTransitionTime) }) {
		t.Error("re-marking moved transition times")
	}
}

func TestNoScheduleTaintDiff(t *testing.T) {
	ns := func(key string) corev1.Taint { return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule} }
	node := readyNode(corev1.ConditionUnknown, t0)
	node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue})
	node.Spec.Unschedulable = true
	node.Spec.Taints = []corev1.Taint{ns(corev1.TaintNodeNotReady), ns("example.com/user"), unreachableTaint}
	add, remove := noScheduleTaintDiff(node)
	keys := func(ts []corev1.Taint) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Key)
		}
		slices.Sort(out)
		return out
	}
	if got := keys(add); !slices.Equal(got, []string{corev1.TaintNodeDiskPressure, corev1.TaintNodeUnreachable, corev1.TaintNodeUnschedulable}) {
		t.Errorf("add = %v", got)
	}
	// The user's taint and the NoExecute one are not the NoSchedule pass's.
	if got := keys(remove); !slices.Equal(got, []string{corev1.TaintNodeNotReady}) {
		t.Errorf("remove = %v", got)
	}
}

func TestWithTaints(t *testing.T) {
	now := metav1.NewTime(t0)
	got, changed := withTaints([]corev1.Taint{notReadyTaint, {Key: "user", Effect: corev1.TaintEffectNoSchedule}},
		[]corev1.Taint{unreachableTaint, {Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}},
		[]corev1.Taint{notReadyTaint}, now)
	if !changed || len(got) != 3 || got[0].Key != "user" || got[1].TimeAdded == nil || got[2].TimeAdded != nil {
		t.Fatalf("got %+v changed=%v; want user, unreachable NoExecute with TimeAdded, unreachable NoSchedule without", got, changed)
	}
	if _, changed := withTaints(got, []corev1.Taint{unreachableTaint}, []corev1.Taint{notReadyTaint}, now); changed {
		t.Fatal("a no-op swap reported a change")
	}
}

func TestComputeZoneState(t *testing.T) {
	r := func(s corev1.ConditionStatus) *corev1.NodeCondition { return &corev1.NodeCondition{Status: s} }
	T, F, U := corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown
	cases := []struct {
		ready []*corev1.NodeCondition
		want  zoneState
	}{
		{[]*corev1.NodeCondition{r(T), r(T)}, stateNormal},
		{[]*corev1.NodeCondition{r(U)}, stateFullDisruption},
		{[]*corev1.NodeCondition{nil, r(F)}, stateFullDisruption},
		{[]*corev1.NodeCondition{r(U), r(U), r(T)}, stateNormal}, // only two down
		{[]*corev1.NodeCondition{r(U), r(U), r(U), r(T), r(T)}, statePartialDisruption},
		{[]*corev1.NodeCondition{r(U), r(U), r(U), r(T), r(T), r(T)}, stateNormal}, // 0.5 < 0.55
	}
	for i, tc := range cases {
		if _, got := computeZoneState(tc.ready, 0.55); got != tc.want {
			t.Errorf("case %d: %s, want %s", i, got, tc.want)
		}
	}
}

func TestZoneTainterRateLimit(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	zt := newZoneTainter(clk, 0.1) // one node per 10s, burst 1
	for _, n := range []string{"a", "b", "c"} {
		zt.add(n, clk.Now())
	}
	if zt.add("a", clk.Now()) {
		t.Fatal("a node was queued twice")
	}
	var tainted []string
	taint := func(name string) bool { tainted = append(tainted, name); return true }
	zt.try(clk.Now(), taint)
	if !slices.Equal(tainted, []string{"a"}) {
		t.Fatalf("first pass tainted %v, want [a]", tainted)
	}
	clk.Step(5 * time.Second)
	zt.try(clk.Now(), taint)
	if len(tainted) != 1 {
		t.Fatalf("tainted %v before the limiter allowed", tainted)
	}
	clk.Step(5 * time.Second)
	zt.try(clk.Now(), taint)
	if !slices.Equal(tainted, []string{"a", "b"}) {
		t.Fatalf("after 10s tainted %v, want [a b]", tainted)
	}
	// Stopped: nothing more, whatever the time.
	zt.setQPS(0)
	clk.Step(time.Hour)
	zt.try(clk.Now(), taint)
	if len(tainted) != 2 || !slices.Equal(zt.names(), []string{"c"}) {
		t.Fatalf("stopped tainter tainted %v, queue %v", tainted, zt.names())
	}
	// A failed taint is retried later, not lost.
	zt.setQPS(1000)
	zt.try(clk.Now(), func(string) bool { return false })
	if !slices.Equal(zt.names(), []string{"c"}) {
		t.Fatalf("failed node dropped: %v", zt.names())
	}
}

var _ clock.Clock = (*testingclock.FakeClock)(nil)
