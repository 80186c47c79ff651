package deployment

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

func rolling(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			ProgressDeadlineSeconds: ptr.To[int32](600),
			RevisionHistoryLimit:    ptr.To[int32](10),
		},
	}
}

type rsOpt func(*appsv1.ReplicaSet)

func testRS(name string, spec int32, opts ...rsOpt) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(t0), Annotations: map[string]string{}},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(spec)},
		Status:     appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: spec, AvailableReplicas: spec},
	}
	for _, o := range opts {
		o(rs)
	}
	return rs
}

func status(replicas, available int32) rsOpt {
	return func(rs *appsv1.ReplicaSet) {
		rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = replicas, available, available
	}
}
func annotated(k, v string) rsOpt { return func(rs *appsv1.ReplicaSet) { rs.Annotations[k] = v } }
func createdAt(t time.Time) rsOpt {
	return func(rs *appsv1.ReplicaSet) { rs.CreationTimestamp = metav1.NewTime(t) }
}

func TestResolveFenceposts(t *testing.T) {
	pct, num := intstr.FromString, intstr.FromInt32
	tests := []struct {
		surge, unavailable intstr.IntOrString
		desired            int32
		wantSurge, wantUn  int32
	}{
		{pct("25%"), pct("25%"), 10, 3, 2}, // 2.5 rounds up for surge, down for unavailable
		{pct("25%"), pct("25%"), 4, 1, 1},
		{pct("25%"), pct("25%"), 1, 1, 0},
		{pct("0%"), pct("0%"), 0, 0, 1}, // both zero: unavailable 1 so the rollout can move
		{num(0), pct("25%"), 3, 0, 1},   // floor(0.75) = 0, then the same rule
		{pct("50%"), num(2), 5, 3, 2},
		{num(5), num(0), 3, 5, 0},
		{pct("100%"), pct("100%"), 7, 7, 7},
	}
	for _, tc := range tests {
		s, u, err := resolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
		if err != nil || s != tc.wantSurge || u != tc.wantUn {
			t.Errorf("resolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d",
				tc.surge.String(), tc.unavailable.String(), tc.desired, s, u, err, tc.wantSurge, tc.wantUn)
		}
	}
	bad := intstr.FromString("many")
	if _, _, err := resolveFenceposts(&bad, nil, 3); err == nil {
		t.Error("an invalid maxSurge must be an error")
	}
}

func TestMaxSurgeAndUnavailable(t *testing.T) {
	d := rolling(10, intstr.FromString("25%"), intstr.FromString("25%"))
	if maxSurge(d) != 3 || maxUnavailable(d) != 2 {
		t.Fatalf("10 replicas 25%%/25%%: surge %d unavailable %d", maxSurge(d), maxUnavailable(d))
	}
	// maxUnavailable never exceeds the replicas.
	d = rolling(2, intstr.FromInt32(0), intstr.FromInt32(5))
	if maxUnavailable(d) != 2 {
		t.Fatalf("capped unavailable = %d", maxUnavailable(d))
	}
	d.Spec.Replicas = ptr.To[int32](0)
	if maxUnavailable(d) != 0 {
		t.Fatal("zero replicas: nothing may be unavailable")
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	d.Spec.Replicas = ptr.To[int32](5)
	if maxSurge(d) != 0 || maxUnavailable(d) != 0 {
		t.Fatal("Recreate has no surge or unavailability budget")
	}
}

func TestNewRSNewReplicas(t *testing.T) {
	d := rolling(10, intstr.FromInt32(3), intstr.FromInt32(2))
	tests := []struct {
		name string
		old  *appsv1.ReplicaSet
		new  *appsv1.ReplicaSet
		want int32
	}{
		{"first surge", testRS("old", 10), testRS("new", 0), 3},
		{"room after scale-down", testRS("old", 8), testRS("new", 2), 5},
		{"no room", testRS("old", 10), testRS("new", 3), 3},
		{"never past replicas", testRS("old", 0), testRS("new", 9), 10},
		// The old ReplicaSet was scaled to 8 but still reports 10 pods:
		// those deletions have not happened, so there is no room yet.
		{"pending deletions hold the surge", testRS("old", 8, status(10, 10)), testRS("new", 3), 3},
	}
	for _, tc := range tests {
		got, err := newRSNewReplicas(d, []*appsv1.ReplicaSet{tc.old, tc.new}, tc.new)
		if err != nil || got != tc.want {
			t.Errorf("%s: newRSNewReplicas = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	recreate := rolling(4, intstr.FromInt32(1), intstr.FromInt32(1))
	recreate.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if got, _ := newRSNewReplicas(recreate, nil, testRS("new", 0)); got != 4 {
		t.Errorf("Recreate new ReplicaSet size %d, want 4", got)
	}
}

func TestProportionalSizes(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		rss      []*appsv1.ReplicaSet
		want     map[string]int32
	}{{
		// The worked example on proportionalSizes.
		name: "scale up 10 -> 15 mid-rollout", replicas: 15,
		rss: []*appsv1.ReplicaSet{
			testRS("old", 8, annotated(MaxReplicasAnnotation, "13"), createdAt(t0)),
			testRS("new", 5, annotated(MaxReplicasAnnotation, "13"), createdAt(t0.Add(time.Minute))),
		},
		want: map[string]int32{"old": 12, "new": 7},
	}, {
		// 10 -> 5: max 13 -> 7 (surge 25% of 5 rounds up to 2); remove 6:
		// old 8*7/13 = 4.3 -> 4 (-4), new 5*7/13 = 2.7 -> 3 (-2).
		name: "scale down 10 -> 5 mid-rollout", replicas: 5,
		rss: []*appsv1.ReplicaSet{
			testRS("old", 8, annotated(MaxReplicasAnnotation, "13"), createdAt(t0)),
			testRS("new", 5, annotated(MaxReplicasAnnotation, "13"), createdAt(t0.Add(time.Minute))),
		},
		want: map[string]int32{"old": 4, "new": 3},
	}, {
		name: "scale to zero", replicas: 0,
		rss: []*appsv1.ReplicaSet{
			testRS("old", 8, annotated(MaxReplicasAnnotation, "13")),
			testRS("new", 5, annotated(MaxReplicasAnnotation, "13")),
		},
		want: map[string]int32{"old": 0, "new": 0},
	}, {
		// Equal sizes scaling up: the newer one is first and takes the
		// rounding leftover. 4+4 -> max 13: each 4*13/8 = 6.5 -> 7 (+3),
		// but only 5 may be added: newer +3, older +2.
		name: "ties favour the newer when scaling up", replicas: 10,
		rss: []*appsv1.ReplicaSet{
			testRS("older", 4, annotated(MaxReplicasAnnotation, "8"), createdAt(t0)),
			testRS("newer", 4, annotated(MaxReplicasAnnotation, "8"), createdAt(t0.Add(time.Minute))),
		},
		want: map[string]int32{"older": 6, "newer": 7},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := rolling(tc.replicas, intstr.FromString("25%"), intstr.FromString("25%"))
			_, sizes := proportionalSizes(d, tc.rss)
			for name, want := range tc.want {
				if sizes[name] != want {
					t.Errorf("%s: %d, want %d (all %v)", name, sizes[name], want, sizes)
				}
			}
		})
	}
}

func TestFindActiveOrLatestAndSaturation(t *testing.T) {
	newRS := testRS("new", 0, createdAt(t0.Add(time.Hour)))
	old1 := testRS("old1", 0, createdAt(t0))
	old2 := testRS("old2", 0, createdAt(t0.Add(time.Minute)))
	if got := findActiveOrLatest(nil, []*appsv1.ReplicaSet{old1, old2}); got != old2 {
		t.Errorf("none active: got %v, want the newest old", got.Name)
	}
	if got := findActiveOrLatest(newRS, []*appsv1.ReplicaSet{old1}); got != newRS {
		t.Errorf("none active: got %v, want the new one", got.Name)
	}
	old1.Spec.Replicas = ptr.To[int32](3)
	if got := findActiveOrLatest(newRS, []*appsv1.ReplicaSet{old1, old2}); got != old1 {
		t.Errorf("one active: got %v", got)
	}
	newRS.Spec.Replicas = ptr.To[int32](1)
	if got := findActiveOrLatest(newRS, []*appsv1.ReplicaSet{old1, old2}); got != nil {
		t.Errorf("two active: got %v, want none", got.Name)
	}

	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	sat := testRS("new", 3, annotated(DesiredReplicasAnnotation, "3"))
	if !isSaturated(d, sat) {
		t.Error("3/3 available with desired 3 is saturated")
	}
	if isSaturated(d, testRS("new", 3, annotated(DesiredReplicasAnnotation, "3"), status(3, 2))) {
		t.Error("not all available: not saturated")
	}
	if isSaturated(d, testRS("new", 3)) {
		t.Error("no desired-replicas annotation: not saturated")
	}
}

func TestHistoryToDelete(t *testing.T) {
	d := rolling(1, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.RevisionHistoryLimit = ptr.To[int32](2)
	rev := func(r string) rsOpt { return annotated(RevisionAnnotation, r) }
	old := []*appsv1.ReplicaSet{
		testRS("r3", 0, rev("3")),
		testRS("r1", 0, rev("1")),
		testRS("r2", 1, rev("2")), // still running: kept
		testRS("r4", 0, rev("4")),
		testRS("r5", 0, rev("5")),
	}
	got := historyToDelete(d, old)
	if len(got) != 2 || got[0].Name != "r1" || got[1].Name != "r3" {
		var names []string
		for _, rs := range got {
			names = append(names, rs.Name)
		}
		t.Fatalf("deleting %v, want [r1 r3]", names)
	}
	d.Spec.RevisionHistoryLimit = nil
	if len(historyToDelete(d, old)) != 0 {
		t.Fatal("no limit: keep everything")
	}
}
