package statefulset

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// recorder is a podActions that records what a pass asked for.
type recorder struct {
	mu         sync.Mutex
	ops        []string
	stale      map[string]bool // pod name -> its claim is stale
	wrongOwner map[string]bool // pod name -> claims need owner changes
}

func (r *recorder) add(op string, pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op+" "+pod.Name)
}

func (r *recorder) createPod(_ context.Context, _ *appsv1.StatefulSet, p *corev1.Pod) error {
	r.add("create", p)
	return nil
}

func (r *recorder) deletePod(_ context.Context, _ *appsv1.StatefulSet, p *corev1.Pod) error {
	r.add("delete", p)
	return nil
}

func (r *recorder) repair(_ context.Context, _ *appsv1.StatefulSet, p *corev1.Pod) error {
	r.add("repair", p)
	return nil
}

func (r *recorder) claimState(_ *appsv1.StatefulSet, p *corev1.Pod) (bool, bool) {
	return false, r.wrongOwner[p.Name]
}

func (r *recorder) claimStale(_ *appsv1.StatefulSet, p *corev1.Pod) bool { return r.stale[p.Name] }

func (r *recorder) sorted() []string {
	out := slices.Clone(r.ops)
	slices.Sort(out)
	return out
}

type podOpt func(*corev1.Pod)

func readyPod(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}
}

func readySince(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		readyPod(p)
		p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-d))
	}
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func terminating(p *corev1.Pod) { ts := metav1.NewTime(now); p.DeletionTimestamp = &ts }

func atRevision(rev string) podOpt {
	return func(p *corev1.Pod) { p.Labels[appsv1.StatefulSetRevisionLabel] = rev }
}

// spod is an existing pod of set at revision "cur", pending unless opts
// say otherwise.
func spod(set *appsv1.StatefulSet, ord int, opts ...podOpt) *corev1.Pod {
	p := newPod(set, ord)
	p.UID = types.UID("uid-" + p.Name)
	p.Labels[appsv1.StatefulSetRevisionLabel] = "cur"
	p.Status.Phase = corev1.PodPending
	for _, o := range opts {
		o(p)
	}
	return p
}

func view(set *appsv1.StatefulSet) *revisionView {
	return &revisionView{set: set, currentSet: set, updateSet: set, currentRevision: "cur", updateRevision: "upd"}
}

// sameRevisions makes the update revision the current one (no update in
// progress).
func sameRevisions(set *appsv1.StatefulSet) *revisionView {
	rv := view(set)
	rv.updateRevision = "cur"
	return rv
}

func run(t *testing.T, r *recorder, rv *revisionView, pods ...*corev1.Pod) []string {
	t.Helper()
	if err := reconcile(context.Background(), r, rv, pods, now); err != nil {
		t.Fatal(err)
	}
	return r.ops
}

func TestReconcileOrderedScaleUp(t *testing.T) {
	set := testSet(3)
	if ops := run(t, &recorder{}, sameRevisions(set)); !slices.Equal(ops, []string{"create web-0"}) {
		t.Fatalf("from nothing: %v, want only web-0", ops)
	}
	if ops := run(t, &recorder{}, sameRevisions(set), spod(set, 0)); len(ops) != 0 {
		t.Fatalf("web-0 not ready yet: %v, want nothing", ops)
	}
	if ops := run(t, &recorder{}, sameRevisions(set), spod(set, 0, readyPod)); !slices.Equal(ops, []string{"create web-1"}) {
		t.Fatalf("web-0 ready: %v, want web-1", ops)
	}
	// A gap is filled first, even though a higher ordinal exists.
	if ops := run(t, &recorder{}, sameRevisions(set), spod(set, 0, readyPod), spod(set, 2, readyPod)); !slices.Equal(ops, []string{"create web-1"}) {
		t.Fatalf("gap: %v", ops)
	}
	// minReadySeconds: ready 5s ago is not yet available under 10s.
	set.Spec.MinReadySeconds = 10
	if ops := run(t, &recorder{}, sameRevisions(set), spod(set, 0, readySince(5*time.Second))); len(ops) != 0 {
		t.Fatalf("web-0 not available: %v", ops)
	}
}

func TestReconcileOrderedScaleDown(t *testing.T) {
	set := testSet(1)
	pods := []*corev1.Pod{spod(set, 0, readyPod), spod(set, 1, readyPod), spod(set, 2, readyPod)}
	if ops := run(t, &recorder{}, sameRevisions(set), pods...); !slices.Equal(ops, []string{"delete web-2"}) {
		t.Fatalf("3->1: %v, want only web-2", ops)
	}
	pods[2] = spod(set, 2, readyPod, terminating)
	if ops := run(t, &recorder{}, sameRevisions(set), pods...); len(ops) != 0 {
		t.Fatalf("web-2 terminating: %v, want a wait", ops)
	}
	// The lowest unhealthy pod may go even though it is unhealthy ...
	pods = []*corev1.Pod{spod(set, 0, readyPod), spod(set, 1, readyPod), spod(set, 2)}
	if ops := run(t, &recorder{}, sameRevisions(set), pods...); !slices.Equal(ops, []string{"delete web-2"}) {
		t.Fatalf("unhealthy highest pod: %v, want it deleted", ops)
	}
	// ... but any other unhealthy pod blocks (upstream's rule).
	pods = []*corev1.Pod{spod(set, 0, readyPod), spod(set, 1), spod(set, 2)}
	if ops := run(t, &recorder{}, sameRevisions(set), pods...); len(ops) != 0 {
		t.Fatalf("two unhealthy condemned pods: %v, want a wait", ops)
	}
	// Scale-down fixes claim owners of the condemned pods first.
	r := &recorder{wrongOwner: map[string]bool{"web-2": true, "web-1": true}}
	pods = []*corev1.Pod{spod(set, 0, readyPod), spod(set, 1, readyPod), spod(set, 2, readyPod)}
	if ops := run(t, r, sameRevisions(set), pods...); !slices.Equal(ops, []string{"repair web-2", "repair web-1", "delete web-2"}) {
		t.Fatalf("claims first: %v", ops)
	}
}

func TestReconcileParallel(t *testing.T) {
	parallel := func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
	set := testSet(3, parallel)
	r := &recorder{}
	run(t, r, sameRevisions(set))
	if got := r.sorted(); !slices.Equal(got, []string{"create web-0", "create web-1", "create web-2"}) {
		t.Fatalf("parallel scale up: %v", got)
	}
	set = testSet(1, parallel)
	r = &recorder{}
	run(t, r, sameRevisions(set), spod(set, 0), spod(set, 1), spod(set, 2))
	if got := r.sorted(); !slices.Equal(got, []string{"delete web-1", "delete web-2"}) {
		t.Fatalf("parallel scale down of unready pods: %v", got)
	}
}

func TestReconcileReplacesTerminalPods(t *testing.T) {
	set := testSet(2)
	ops := run(t, &recorder{}, sameRevisions(set), spod(set, 0, phase(corev1.PodFailed)), spod(set, 1, readyPod))
	if !slices.Equal(ops, []string{"delete web-0"}) {
		t.Fatalf("failed pod: %v", ops)
	}
	ops = run(t, &recorder{}, sameRevisions(set), spod(set, 0, readyPod), spod(set, 1, phase(corev1.PodSucceeded)))
	if !slices.Equal(ops, []string{"delete web-1"}) {
		t.Fatalf("succeeded pod: %v", ops)
	}
}

func TestReconcileWaitsForStaleClaim(t *testing.T) {
	set := testSet(1)
	r := &recorder{stale: map[string]bool{"web-0": true}}
	if ops := run(t, r, sameRevisions(set)); len(ops) != 0 {
		t.Fatalf("created over a stale claim: %v", ops)
	}
}

func TestReconcileRepairsIdentity(t *testing.T) {
	set := testSet(1)
	p := spod(set, 0, readyPod)
	delete(p.Labels, appsv1.PodIndexLabel)
	if ops := run(t, &recorder{}, sameRevisions(set), p); !slices.Equal(ops, []string{"repair web-0"}) {
		t.Fatalf("identity: %v", ops)
	}
}

func TestReconcileRollingUpdate(t *testing.T) {
	set := testSet(3)
	all := func(opts ...podOpt) []*corev1.Pod {
		return []*corev1.Pod{spod(set, 0, opts...), spod(set, 1, opts...), spod(set, 2, opts...)}
	}
	if ops := run(t, &recorder{}, view(set), all(readyPod)...); !slices.Equal(ops, []string{"delete web-2"}) {
		t.Fatalf("first step: %v, want the highest ordinal", ops)
	}
	pods := all(readyPod)
	pods[2] = spod(set, 2, atRevision("upd"))
	if ops := run(t, &recorder{}, view(set), pods...); len(ops) != 0 {
		t.Fatalf("web-2 updated but not ready: %v, want a wait", ops)
	}
	pods[2] = spod(set, 2, atRevision("upd"), readyPod)
	if ops := run(t, &recorder{}, view(set), pods...); !slices.Equal(ops, []string{"delete web-1"}) {
		t.Fatalf("second step: %v", ops)
	}
	// OnDelete: nothing.
	onDelete := testSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	})
	if ops := run(t, &recorder{}, view(onDelete), spod(onDelete, 0, readyPod), spod(onDelete, 1, readyPod), spod(onDelete, 2, readyPod)); len(ops) != 0 {
		t.Fatalf("OnDelete deleted old pods: %v", ops)
	}
}

func TestRollingUpdateTargets(t *testing.T) {
	mk := func(partition int32, maxUnavail *intstr.IntOrString) *appsv1.StatefulSet {
		return testSet(5, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition, MaxUnavailable: maxUnavail}
		})
	}
	two := intstr.FromInt32(2)
	pct := intstr.FromString("50%")
	cases := []struct {
		name string
		set  *appsv1.StatefulSet
		pods func(*appsv1.StatefulSet) []*corev1.Pod
		want string
	}{
		{"highest first", mk(0, nil), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{spod(s, 0, readyPod), spod(s, 1, readyPod), spod(s, 2, readyPod), spod(s, 3, readyPod), spod(s, 4, readyPod)}
		}, "web-4"},
		{"partition 3 stops at 3", mk(3, nil), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{spod(s, 0, readyPod), spod(s, 1, readyPod), spod(s, 2, readyPod), spod(s, 3, readyPod), spod(s, 4, readyPod, atRevision("upd"))}
		}, "web-3"},
		{"partition reached: done", mk(3, nil), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{spod(s, 0, readyPod), spod(s, 1, readyPod), spod(s, 2, readyPod), spod(s, 3, readyPod, atRevision("upd")), spod(s, 4, readyPod, atRevision("upd"))}
		}, ""},
		{"unhealthy below partition still counts", mk(3, nil), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{spod(s, 0), spod(s, 1, readyPod), spod(s, 2, readyPod), spod(s, 3, readyPod), spod(s, 4, readyPod)}
		}, ""},
		{"maxUnavailable 2", mk(0, &two), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{spod(s, 0, readyPod), spod(s, 1, readyPod), spod(s, 2, readyPod), spod(s, 3, readyPod), spod(s, 4, readyPod)}
		}, "web-3,web-4"},
		{"50% of 5 rounds down to 2, one already down", mk(0, &pct), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{spod(s, 0, readyPod), spod(s, 1, readyPod), spod(s, 2, readyPod), spod(s, 3, readyPod), spod(s, 4, atRevision("upd"))}
		}, "web-3"},
		{"terminating pods are not picked again", mk(0, &two), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{spod(s, 0, readyPod), spod(s, 1, readyPod), spod(s, 2, readyPod), spod(s, 3, readyPod), spod(s, 4, readyPod, terminating)}
		}, "web-3"},
	}
	for _, c := range cases {
		got, err := rollingUpdateTargets(c.set, c.pods(c.set), "upd", now)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, p := range got {
			ns = append(ns, p.Name)
		}
		slices.Sort(ns)
		if strings.Join(ns, ",") != c.want {
			t.Errorf("%s: targets %v, want %q", c.name, ns, c.want)
		}
	}
}

func TestComputeStatus(t *testing.T) {
	set := testSet(3)
	set.Spec.MinReadySeconds = 30
	pods := []*corev1.Pod{
		spod(set, 0, readyPod, atRevision("upd")),
		spod(set, 1, readySince(10*time.Second), atRevision("upd")),
		spod(set, 2, readyPod),
		spod(set, 3, readyPod, terminating), // condemned, going
	}
	st, requeue := computeStatus(set, pods, "cur", "upd", 0, now)
	if st.Replicas != 4 || st.ReadyReplicas != 4 || st.AvailableReplicas != 3 || st.CurrentReplicas != 1 || st.UpdatedReplicas != 2 ||
		st.ObservedGeneration != 2 || st.CurrentRevision != "cur" || st.UpdateRevision != "upd" || *st.CollisionCount != 0 {
		t.Fatalf("status %+v", st)
	}
	if requeue != 20*time.Second {
		t.Fatalf("requeue %v, want 20s until web-1 is available", requeue)
	}
	// All replicas updated and ready: the update revision becomes current.
	done := []*corev1.Pod{spod(set, 0, readyPod, atRevision("upd")), spod(set, 1, readyPod, atRevision("upd")), spod(set, 2, readyPod, atRevision("upd"))}
	st, _ = computeStatus(set, done, "cur", "upd", 0, now)
	if st.CurrentRevision != "upd" || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 {
		t.Fatalf("finished rollout: %+v", st)
	}
	// OnDelete never completes a rollout by itself.
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	if st, _ = computeStatus(set, done, "cur", "upd", 0, now); st.CurrentRevision != "cur" {
		t.Fatalf("OnDelete moved currentRevision: %+v", st)
	}
	// Placeholders (never created) are not counted.
	if st, _ = computeStatus(set, []*corev1.Pod{newPod(set, 0)}, "cur", "upd", 0, now); st.Replicas != 0 {
		t.Fatalf("placeholder counted: %+v", st)
	}
	set.Status = st
	if statusChanged(set, &st) {
		t.Fatal("equal status reads as changed")
	}
}

func TestReconcileOrdinalsStart(t *testing.T) {
	start := func(n int32) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: n} }
	}
	set := testSet(2, start(5))
	if ops := run(t, &recorder{}, sameRevisions(set)); !slices.Equal(ops, []string{"create web-5"}) {
		t.Fatalf("start=5: %v, want web-5 first", ops)
	}
	// Moving the start to 6 condemns web-5 and wants web-7: web-7 is
	// created first (scale-up before scale-down), then web-5 goes.
	moved := testSet(2, start(6))
	pods := []*corev1.Pod{spod(moved, 5, readyPod), spod(moved, 6, readyPod)}
	if ops := run(t, &recorder{}, sameRevisions(moved), pods...); !slices.Equal(ops, []string{"create web-7"}) {
		t.Fatalf("start moved: %v", ops)
	}
	pods = append(pods, spod(moved, 7, readyPod))
	if ops := run(t, &recorder{}, sameRevisions(moved), pods...); !slices.Equal(ops, []string{"delete web-5"}) {
		t.Fatalf("start moved, web-7 ready: %v", ops)
	}
}

func TestReconcileParallelRollingSkipsPodsJustDeleted(t *testing.T) {
	two := intstr.FromInt32(2)
	set := testSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &two
	})
	r := &recorder{}
	run(t, r, view(set), spod(set, 0, readyPod), spod(set, 1, readyPod), spod(set, 2, phase(corev1.PodFailed)))
	if !slices.Equal(r.ops, []string{"delete web-2"}) {
		t.Fatalf("ops %v: the failed pod is deleted once, and rolling waits for the next pass", r.ops)
	}
	r = &recorder{}
	run(t, r, view(set), spod(set, 0, readyPod), spod(set, 1, readyPod), spod(set, 2, readyPod))
	if got := r.sorted(); !slices.Equal(got, []string{"delete web-1", "delete web-2"}) {
		t.Fatalf("parallel rolling with maxUnavailable 2: %v", got)
	}
}
