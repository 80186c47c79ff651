package disruption

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func owned(name string, owner types.UID, ready bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	if owner != "" {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: string(owner), UID: owner, Controller: &t}}
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func podsOf(owner types.UID, n, ready int) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = owned(fmt.Sprintf("%s-%d", owner, i), owner, i < ready)
	}
	return out
}

func scaleTable(m map[types.UID]int32) scaleFunc {
	return func(ref *metav1.OwnerReference, _ string) (types.UID, int32, bool, error) {
		n, ok := m[ref.UID]
		return ref.UID, n, ok, nil
	}
}

func budget(minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pdb", Generation: 3},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable},
	}
}

func ios(v intstr.IntOrString) *intstr.IntOrString { return &v }

// TestExpectedCounts runs expectedCounts' worked examples and more.
func TestExpectedCounts(t *testing.T) {
	scales := scaleTable(map[types.UID]int32{"d5": 5, "ss3": 3, "rs4": 4, "rs6": 6})
	tests := []struct {
		name                    string
		pdb                     *policyv1.PodDisruptionBudget
		pods                    []*corev1.Pod
		wantExpected, wantDesir int32
		wantUnmanaged           int
		wantErr                 bool
	}{
		{"minAvailable int counts pods", budget(ios(intstr.FromInt32(2)), nil), podsOf("d5", 4, 4), 4, 2, 0, false},
		{"minAvailable 50% of 5 rounds up", budget(ios(intstr.FromString("50%")), nil), podsOf("d5", 5, 5), 5, 3, 0, false},
		{"maxUnavailable 1 of 3", budget(nil, ios(intstr.FromInt32(1))), podsOf("ss3", 3, 3), 3, 2, 0, false},
		{"maxUnavailable 30% of 4+6", budget(nil, ios(intstr.FromString("30%"))),
			append(podsOf("rs4", 4, 4), podsOf("rs6", 6, 6)...), 10, 7, 0, false},
		{"scale counts replicas, not pods", budget(ios(intstr.FromString("100%")), nil), podsOf("d5", 2, 2), 5, 5, 0, false},
		{"maxUnavailable beyond scale floors at 0", budget(nil, ios(intstr.FromInt32(9))), podsOf("ss3", 3, 3), 3, 0, 0, false},
		{"unmanaged pods left out", budget(nil, ios(intstr.FromInt32(1))),
			append(podsOf("ss3", 3, 3), owned("lonely", "", true)), 3, 2, 1, false},
		{"unknown controller fails", budget(nil, ios(intstr.FromInt32(1))), podsOf("gone", 1, 1), 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, des, unmanaged, err := expectedCounts(tt.pdb, tt.pods, scales)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if exp != tt.wantExpected || des != tt.wantDesir || len(unmanaged) != tt.wantUnmanaged {
				t.Fatalf("expected=%d desired=%d unmanaged=%v; want %d, %d, %d", exp, des, unmanaged, tt.wantExpected, tt.wantDesir, tt.wantUnmanaged)
			}
		})
	}
}

func TestCountHealthyAndDisrupted(t *testing.T) {
	pods := podsOf("d5", 5, 4) // d5-4 is not ready
	deleting := pods[1]
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	pdb := budget(ios(intstr.FromString("60%")), nil)
	pdb.Status.DisruptedPods = map[string]metav1.Time{
		"d5-0":     metav1.NewTime(now.Add(-time.Minute)),     // recent eviction: not healthy
		"d5-1":     metav1.NewTime(now.Add(-time.Minute)),     // now being deleted: done
		"d5-2":     metav1.NewTime(now.Add(-3 * time.Minute)), // never deleted: healthy again
		"vanished": metav1.NewTime(now.Add(-time.Minute)),     // pod gone: done
	}
	kept, recheck, notDeleted := disruptedPodMap(pdb, pods, now)
	if _, ok := kept["d5-0"]; len(kept) != 1 || !ok {
		t.Fatalf("kept = %v, want only d5-0", kept)
	}
	if recheck == nil || !recheck.Equal(now.Add(-time.Minute+DeletionTimeout)) {
		t.Fatalf("recheck = %v", recheck)
	}
	if len(notDeleted) != 1 || notDeleted[0].Name != "d5-2" {
		t.Fatalf("notDeleted = %v", notDeleted)
	}
	// Ready: 0,1,2,3; minus 0 (evicted) and 1 (deleting) = 2.
	if got := countHealthy(pods, kept, now); got != 2 {
		t.Fatalf("currentHealthy = %d, want 2", got)
	}
}

// TestBuildStatus is buildStatus' worked example: 5 ready pods of a
// 5-replica Deployment, minAvailable 60%.
func TestBuildStatus(t *testing.T) {
	pdb := budget(ios(intstr.FromString("60%")), nil)
	exp, des, _, err := expectedCounts(pdb, podsOf("d5", 5, 5), scaleTable(map[types.UID]int32{"d5": 5}))
	if err != nil {
		t.Fatal(err)
	}
	st := buildStatus(pdb, countHealthy(podsOf("d5", 5, 5), nil, now), des, exp, nil, now)
	if st.DisruptionsAllowed != 2 || st.DesiredHealthy != 3 || st.ExpectedPods != 5 || st.CurrentHealthy != 5 || st.ObservedGeneration != 3 {
		t.Fatalf("status = %+v", st)
	}
	c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != policyv1.SufficientPodsReason {
		t.Fatalf("condition = %+v", c)
	}
	// After one eviction.
	pdb.Status = st
	evicted := map[string]metav1.Time{"d5-0": metav1.NewTime(now)}
	st2 := buildStatus(pdb, countHealthy(podsOf("d5", 5, 5), evicted, now), des, exp, evicted, now.Add(time.Second))
	if st2.CurrentHealthy != 4 || st2.DisruptionsAllowed != 1 {
		t.Fatalf("after eviction: %+v", st2)
	}
	if c2 := apimeta.FindStatusCondition(st2.Conditions, policyv1.DisruptionAllowedCondition); !c2.LastTransitionTime.Equal(&c.LastTransitionTime) {
		t.Fatal("condition transition time moved without a transition")
	}
	if statusEqual(&pdb.Status, &st2) {
		t.Fatal("different statuses compare equal")
	}
	// Down to the minimum: insufficient.
	st3 := buildStatus(pdb, 3, des, exp, nil, now)
	if c := apimeta.FindStatusCondition(st3.Conditions, policyv1.DisruptionAllowedCondition); st3.DisruptionsAllowed != 0 ||
		c.Status != metav1.ConditionFalse || c.Reason != policyv1.InsufficientPodsReason {
		t.Fatalf("at minimum: %+v", st3)
	}
	// No pods expected yet: nothing allowed even if the arithmetic says so.
	if st := buildStatus(budget(ios(intstr.FromInt32(0)), nil), 0, 0, 0, nil, now); st.DisruptionsAllowed != 0 {
		t.Fatalf("no pods: %d allowed", st.DisruptionsAllowed)
	}
	fs := failSafeStatus(pdb, errors.New("boom"), now)
	if c := apimeta.FindStatusCondition(fs.Conditions, policyv1.DisruptionAllowedCondition); fs.DisruptionsAllowed != 0 ||
		c.Reason != policyv1.SyncFailedReason || c.Message != "boom" {
		t.Fatalf("fail-safe: %+v", fs)
	}
}
