package daemonset

import (
	"reflect"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func ready(since time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-since))}}
	}
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func deleting(p *corev1.Pod) { ts := metav1.NewTime(now); p.DeletionTimestamp = &ts }

func age(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-d)) }
}

// dpod is a daemon pod for node at revision hash.
func dpod(name, node, hash string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}},
		Spec:       corev1.PodSpec{Affinity: nodeAffinityFor(nil, node)},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func names(pods []*corev1.Pod) []string {
	out := make([]string, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func withSurge(ds *appsv1.DaemonSet, surge, unavailable intstr.IntOrString) *appsv1.DaemonSet {
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &surge, MaxUnavailable: &unavailable}
	return ds
}

func TestPlanNode(t *testing.T) {
	plain := testDS(nil)
	surge := withSurge(testDS(nil), intstr.FromInt32(1), intstr.FromInt32(0))
	node := testNode("n", nil)
	evicting := testNode("n", nil, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoExecute})
	cordonedByUser := testNode("n", nil, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule})
	cases := []struct {
		name                      string
		ds                        *appsv1.DaemonSet
		node                      *corev1.Node
		pods                      []*corev1.Pod
		create                    bool
		remove, failed, succeeded []string
	}{
		{name: "empty node gets a pod", ds: plain, node: node, create: true},
		{name: "one pod is enough", ds: plain, node: node, pods: []*corev1.Pod{dpod("a", "n", "h", ready(time.Hour))}},
		{name: "excess pods: keep oldest", ds: plain, node: node, pods: []*corev1.Pod{
			dpod("young", "n", "h", age(time.Minute)), dpod("old", "n", "h", age(time.Hour)), dpod("mid", "n", "h", age(10*time.Minute)),
		}, remove: []string{"mid", "young"}},
		{name: "failed pod replaced", ds: plain, node: node, pods: []*corev1.Pod{dpod("f", "n", "h", phase(corev1.PodFailed))}, failed: []string{"f"}},
		{name: "succeeded pod replaced", ds: plain, node: node, pods: []*corev1.Pod{dpod("s", "n", "h", phase(corev1.PodSucceeded))}, succeeded: []string{"s"}},
		{name: "terminating pod: wait", ds: plain, node: node, pods: []*corev1.Pod{dpod("t", "n", "h", deleting)}},
		{name: "evicting taint removes pods", ds: plain, node: evicting, pods: []*corev1.Pod{dpod("a", "n", "h"), dpod("t", "n", "h", deleting)}, remove: []string{"a"}},
		{name: "new NoSchedule taint keeps pod", ds: plain, node: cordonedByUser, pods: []*corev1.Pod{dpod("a", "n", "h")}},
		{name: "new NoSchedule taint: no new pod", ds: plain, node: cordonedByUser},
		{name: "surge: old ready, new not available", ds: surge, node: node, pods: []*corev1.Pod{
			dpod("old", "n", "old", ready(time.Hour), age(time.Hour)), dpod("new", "n", "h", age(time.Minute)),
		}},
		{name: "surge: new available retires old", ds: surge, node: node, pods: []*corev1.Pod{
			dpod("old", "n", "old", ready(time.Hour), age(time.Hour)), dpod("new", "n", "h", ready(time.Second), age(time.Minute)),
		}, remove: []string{"old"}},
		{name: "surge: unready old goes at once", ds: surge, node: node, pods: []*corev1.Pod{
			dpod("old", "n", "old", age(time.Hour)), dpod("new", "n", "h", age(time.Minute)),
		}, remove: []string{"old"}},
		{name: "surge: only failed pods, create anyway", ds: surge, node: node, pods: []*corev1.Pod{
			dpod("f", "n", "h", phase(corev1.PodFailed)),
		}, create: true, failed: []string{"f"}},
		{name: "surge: third pod pruned", ds: surge, node: node, pods: []*corev1.Pod{
			dpod("old", "n", "old", ready(time.Hour), age(time.Hour)), dpod("new", "n", "h", age(time.Minute)), dpod("new2", "n", "h", age(time.Second)),
		}, remove: []string{"new2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := planNode(c.node, c.pods, c.ds, "h", now)
			if p.create != c.create {
				t.Errorf("create = %v, want %v", p.create, c.create)
			}
			for _, cmp := range []struct {
				what      string
				got, want []string
			}{{"remove", names(p.remove), c.remove}, {"failed", names(p.failed), c.failed}, {"succeeded", names(p.succeeded), c.succeeded}} {
				if !slices.Equal(cmp.got, cmp.want) && (len(cmp.got) > 0 || len(cmp.want) > 0) {
					t.Errorf("%s = %v, want %v", cmp.what, cmp.got, cmp.want)
				}
			}
		})
	}
}

func TestUnscheduledOnMissingNodes(t *testing.T) {
	bound := dpod("bound", "gone", "h")
	bound.Spec.NodeName = "gone"
	byNode := map[string][]*corev1.Pod{
		"here": {dpod("a", "here", "h")},
		"gone": {dpod("b", "gone", "h"), dpod("c", "gone", "h", deleting), bound},
	}
	got := names(unscheduledOnMissingNodes([]*corev1.Node{testNode("here", nil)}, byNode))
	if !slices.Equal(got, []string{"b"}) {
		t.Fatalf("got %v, want [b]: bound pods are pod GC's, terminating ones are going", got)
	}
}

func TestPlanRollingUpdateWithoutSurge(t *testing.T) {
	ds := withSurge(testDS(nil), intstr.FromInt32(0), intstr.FromInt32(2))
	run := map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}
	cases := []struct {
		name   string
		pods   map[string][]*corev1.Pod
		remove []string
	}{
		{"all old and available: two go, lowest node names first", map[string][]*corev1.Pod{
			"a": {dpod("pa", "a", "old", ready(time.Hour))}, "b": {dpod("pb", "b", "old", ready(time.Hour))},
			"c": {dpod("pc", "c", "old", ready(time.Hour))}, "d": {dpod("pd", "d", "old", ready(time.Hour))},
			"e": {dpod("pe", "e", "old", ready(time.Hour))},
		}, []string{"pa", "pb"}},
		{"one new pod still starting: one more goes", map[string][]*corev1.Pod{
			"a": {dpod("pa", "a", "h")}, "b": {dpod("pb", "b", "old", ready(time.Hour))},
			"c": {dpod("pc", "c", "old", ready(time.Hour))}, "d": {dpod("pd", "d", "h", ready(time.Hour))},
			"e": {dpod("pe", "e", "old", ready(time.Hour))},
		}, []string{"pb"}},
		{"empty node and starting pod use the budget", map[string][]*corev1.Pod{
			"a": {dpod("pa", "a", "h")}, "c": {dpod("pc", "c", "old", ready(time.Hour))},
			"d": {dpod("pd", "d", "old", ready(time.Hour))}, "e": {dpod("pe", "e", "old", ready(time.Hour))},
		}, nil},
		{"unavailable old pods are replaced regardless of budget", map[string][]*corev1.Pod{
			"a": {dpod("pa", "a", "h")}, "b": {dpod("pb", "b", "h")},
			"c": {dpod("pc", "c", "old")}, "d": {dpod("pd", "d", "old")}, "e": {dpod("pe", "e", "old", ready(time.Hour))},
		}, []string{"pc", "pd"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			remove, create, err := planRollingUpdate(ds, c.pods, run, "h", now)
			if err != nil || len(create) != 0 {
				t.Fatalf("err=%v create=%v", err, create)
			}
			if got := names(remove); !slices.Equal(got, c.remove) && (len(got) > 0 || len(c.remove) > 0) {
				t.Fatalf("remove = %v, want %v", got, c.remove)
			}
		})
	}
}

func TestPlanRollingUpdateWithSurge(t *testing.T) {
	ds := withSurge(testDS(nil), intstr.FromInt32(1), intstr.FromInt32(0))
	run := map[string]bool{"a": true, "b": true, "c": true}
	pods := map[string][]*corev1.Pod{
		"a": {dpod("pa", "a", "old", ready(time.Hour)), dpod("na", "a", "h", ready(time.Second))}, // new available: retire old
		"b": {dpod("pb", "b", "old", ready(time.Hour))},                                           // candidate
		"c": {dpod("pc", "c", "old")},                                                             // old unavailable: replace now
	}
	remove, create, err := planRollingUpdate(ds, pods, run, "h", now)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(remove); !slices.Equal(got, []string{"pa"}) {
		t.Errorf("remove = %v, want [pa]", got)
	}
	slices.Sort(create)
	if !slices.Equal(create, []string{"b", "c"}) {
		t.Errorf("create on %v, want [b c]", create)
	}
	// With a surge pod still starting on a, the budget of 1 is used up:
	// only the unavailable node c gets one.
	pods["a"][1] = dpod("na", "a", "h")
	_, create, _ = planRollingUpdate(ds, pods, run, "h", now)
	if !slices.Equal(create, []string{"c"}) {
		t.Errorf("create on %v, want [c]", create)
	}
}

func TestRollingLimits(t *testing.T) {
	run := map[string]bool{}
	for _, n := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"} {
		run[n] = true
	}
	run["off"] = false
	l, err := computeRollingLimits(withSurge(testDS(nil), intstr.FromString("0%"), intstr.FromString("25%")), run)
	if err != nil || l.desired != 10 || l.maxUnavailable != 3 || l.maxSurge != 0 {
		t.Fatalf("25%% of 10 rounds up to 3: %+v %v", l, err)
	}
	l, _ = computeRollingLimits(withSurge(testDS(nil), intstr.FromString("0%"), intstr.FromString("0%")), run)
	if l.maxUnavailable != 1 {
		t.Fatalf("zero surge and zero unavailable must fall back to 1: %+v", l)
	}
	if _, err := computeRollingLimits(withSurge(testDS(nil), intstr.FromString("x"), intstr.FromInt32(1)), run); err == nil {
		t.Fatal("invalid maxSurge accepted")
	}
}

func TestComputeStatus(t *testing.T) {
	ds := testDS(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"run": "yes"} })
	ds.Spec.MinReadySeconds = 10
	yes := map[string]string{"run": "yes"}
	nodes := []*corev1.Node{testNode("a", yes), testNode("b", yes), testNode("c", yes), testNode("d", yes), testNode("x", nil)}
	byNode := map[string][]*corev1.Pod{
		"a": {dpod("pa", "a", "h", ready(time.Minute))},   // ready, available, updated
		"b": {dpod("pb", "b", "old", ready(time.Minute))}, // ready, available, old
		"c": {dpod("pc", "c", "h", ready(4*time.Second), age(time.Hour)), // ready, available in 6s+
			dpod("pc2", "c", "old", ready(time.Hour), age(time.Minute))}, // not the oldest: ignored
		"x":    {dpod("px", "x", "h")},    // misscheduled
		"gone": {dpod("pg", "gone", "h")}, // node does not exist: not counted
	}
	st, requeue := computeStatus(ds, nodes, byNode, "h", now)
	want := appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, CurrentNumberScheduled: 3, NumberMisscheduled: 1,
		NumberReady: 3, UpdatedNumberScheduled: 2, NumberAvailable: 2, NumberUnavailable: 2}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("status = %+v\nwant %+v", st, want)
	}
	if requeue != 6*time.Second {
		t.Fatalf("requeue = %v, want 6s (pc turns available then)", requeue)
	}
	if !statusChanged(ds, &st) {
		t.Fatal("a different status reads as unchanged")
	}
	ds.Status = st
	if statusChanged(ds, &st) {
		t.Fatal("an equal status reads as changed")
	}
}
