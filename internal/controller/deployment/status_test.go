package deployment

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func template(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{{Name: "web", Image: image, ImagePullPolicy: corev1.PullIfNotPresent}},
			RestartPolicy: corev1.RestartPolicyAlways,
		},
	}
}

func TestTemplateHash(t *testing.T) {
	// A fixed value: the hash must not change between runs or processes
	// (a restarted controller finds its ReplicaSets by this name). It
	// changes only if k8s.io/api adds fields to PodTemplateSpec, as
	// upstream's does.
	const want = "787c8f4768"
	if got := templateHash(template("nginx:1.25"), nil); got != want {
		t.Errorf("templateHash = %q, want %q", got, want)
	}
	a, b := templateHash(template("nginx:1.25"), nil), templateHash(template("nginx:1.25"), nil)
	if a != b {
		t.Fatal("same template, different hashes")
	}
	if templateHash(template("nginx:1.26"), nil) == a {
		t.Error("a different image must change the hash")
	}
	if templateHash(template("nginx:1.25"), ptr.To[int32](1)) == a {
		t.Error("a collision count must change the hash")
	}
	if strings.ContainsAny(a, "aeiou013") {
		t.Errorf("hash %q uses characters SafeEncodeString avoids", a)
	}
}

func TestEqualIgnoreHashAndFindNew(t *testing.T) {
	withHash := template("nginx")
	withHash.Labels = withLabel(withHash.Labels, appsv1.DefaultDeploymentUniqueLabelKey, "abc")
	if !equalIgnoreHash(withHash, template("nginx")) || equalIgnoreHash(withHash, template("httpd")) {
		t.Fatal("equalIgnoreHash must ignore only the hash label")
	}
	d := rolling(1, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.Template = *template("nginx")
	older := testRS("older", 0, createdAt(t0))
	older.Spec.Template = *withHash
	newer := testRS("newer", 0, createdAt(t0.Add(time.Hour)))
	newer.Spec.Template = *withHash
	other := testRS("other", 0)
	other.Spec.Template = *template("httpd")
	if got := findNewReplicaSet(d, []*appsv1.ReplicaSet{newer, other, older}); got != older {
		t.Fatalf("findNewReplicaSet = %v, want the oldest match", got)
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := rolling(4, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Annotations = map[string]string{
		"team":                             "a",
		RevisionAnnotation:                 "7",
		corev1.LastAppliedConfigAnnotation: "{}",
	}
	rs := &appsv1.ReplicaSet{}
	if !setNewReplicaSetAnnotations(d, rs, "2", false) {
		t.Fatal("a new ReplicaSet's annotations change")
	}
	want := map[string]string{"team": "a", RevisionAnnotation: "2", DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5"}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("%s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	if _, ok := rs.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("last-applied-configuration must not be copied")
	}
	if setNewReplicaSetAnnotations(d, rs, "2", true) {
		t.Error("nothing changed, yet reported a change")
	}
	// Rolled back to: the old revision goes to the history.
	setNewReplicaSetAnnotations(d, rs, "3", true)
	setNewReplicaSetAnnotations(d, rs, "5", true)
	if rs.Annotations[RevisionAnnotation] != "5" || rs.Annotations[RevisionHistoryAnnotation] != "2,3" {
		t.Errorf("revision %q history %q; want 5 and 2,3", rs.Annotations[RevisionAnnotation], rs.Annotations[RevisionHistoryAnnotation])
	}
	// A lower revision never replaces a higher one.
	if setNewReplicaSetAnnotations(d, rs, "4", true) || rs.Annotations[RevisionAnnotation] != "5" {
		t.Error("revision went backwards")
	}
}

func TestAppendRevisionHistoryLimit(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		RevisionHistoryAnnotation: strings.Repeat("9", maxRevisionHistoryChars-2) + ",1",
	}}}
	appendRevisionHistory(rs, "22")
	h := rs.Annotations[RevisionHistoryAnnotation]
	if len(h) > maxRevisionHistoryChars || h != "1,22" {
		t.Fatalf("history %q (len %d): the oldest entries should have been dropped", h[:min(len(h), 20)], len(h))
	}
}

func cond(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason string, at time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, LastUpdateTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)}
}

func TestCalculateStatus(t *testing.T) {
	d := rolling(4, intstr.FromInt32(1), intstr.FromInt32(1))
	d.Generation = 5
	newRS := testRS("new", 3, status(3, 2))
	old := testRS("old", 2, status(2, 2))
	old.Status.TerminatingReplicas = ptr.To[int32](1)
	old.Status.ObservedGeneration = 1
	newRS.Status.TerminatingReplicas = ptr.To[int32](0)
	st := calculateStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS, t0)
	if st.ObservedGeneration != 5 || st.Replicas != 5 || st.UpdatedReplicas != 3 || st.ReadyReplicas != 4 ||
		st.AvailableReplicas != 4 || st.UnavailableReplicas != 1 || ptr.Deref(st.TerminatingReplicas, -1) != 1 {
		t.Fatalf("counts: %+v", st)
	}
	if c := getCondition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonMinimumAvailable {
		t.Fatalf("4 available >= 4-1: Available condition %+v", c)
	}
	newRS.Status.AvailableReplicas, old.Status.AvailableReplicas = 0, 1
	st = calculateStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS, t0)
	if c := getCondition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonMinimumUnavailable {
		t.Fatalf("1 available < 3: Available condition %+v", c)
	}
	// A synced ReplicaSet not reporting terminating pods makes the sum unknown.
	old.Status.TerminatingReplicas = nil
	if st := calculateStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS, t0); st.TerminatingReplicas != nil {
		t.Fatalf("terminatingReplicas %d, want unknown", *st.TerminatingReplicas)
	}
}

func TestRolloutStatusProgressing(t *testing.T) {
	later := t0.Add(time.Minute)
	progressing := cond(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated, t0)
	tests := []struct {
		name       string
		stored     appsv1.DeploymentStatus
		newRS, old *appsv1.ReplicaSet
		deadline   *int32
		now        time.Time
		want       *appsv1.DeploymentCondition // nil: no Progressing condition
	}{{
		name:   "complete rollout",
		stored: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{progressing}},
		newRS:  testRS("new", 3), old: testRS("old", 0, status(0, 0)), now: later,
		want: ptr.To(appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
			Reason: ReasonNewReplicaSetAvailable, LastUpdateTime: metav1.NewTime(later), LastTransitionTime: metav1.NewTime(t0)}),
	}, {
		name:   "progress moves lastUpdateTime, keeps lastTransitionTime",
		stored: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{progressing}},
		newRS:  testRS("new", 2, status(2, 0)), old: testRS("old", 2), now: later,
		want: ptr.To(appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue,
			Reason: ReasonReplicaSetUpdated, LastUpdateTime: metav1.NewTime(later), LastTransitionTime: metav1.NewTime(t0)}),
	}, {
		name:   "no progress within the deadline: unchanged",
		stored: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, Conditions: []appsv1.DeploymentCondition{progressing}},
		newRS:  testRS("new", 2, status(2, 0)), old: testRS("old", 2), now: t0.Add(599 * time.Second),
		want: &progressing,
	}, {
		name:   "no progress past the deadline: timed out",
		stored: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, Conditions: []appsv1.DeploymentCondition{progressing}},
		newRS:  testRS("new", 2, status(2, 0)), old: testRS("old", 2), now: t0.Add(601 * time.Second),
		want: ptr.To(appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: ReasonProgressDeadline, LastUpdateTime: metav1.NewTime(t0.Add(601 * time.Second)), LastTransitionTime: metav1.NewTime(t0.Add(601 * time.Second))}),
	}, {
		name:   "no deadline: no Progressing condition",
		stored: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{progressing}},
		newRS:  testRS("new", 3), old: testRS("old", 0, status(0, 0)), now: later,
		deadline: ptr.To[int32](2147483647),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
			d.Name = "web"
			d.Status = tc.stored
			if tc.deadline != nil {
				d.Spec.ProgressDeadlineSeconds = tc.deadline
			}
			st := rolloutStatus(d, []*appsv1.ReplicaSet{tc.old, tc.newRS}, tc.newRS, tc.now)
			got := getCondition(st, appsv1.DeploymentProgressing)
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("Progressing = %+v, want %+v", got, tc.want)
			}
			if got == nil {
				return
			}
			if got.Status != tc.want.Status || got.Reason != tc.want.Reason ||
				!got.LastUpdateTime.Equal(&tc.want.LastUpdateTime) || !got.LastTransitionTime.Equal(&tc.want.LastTransitionTime) {
				t.Fatalf("Progressing = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRolloutStatusLiftsReplicaFailure(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	newRS := testRS("new", 3, status(1, 1))
	newRS.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "quota"}}
	st := rolloutStatus(d, []*appsv1.ReplicaSet{newRS}, newRS, t0)
	if c := getCondition(st, appsv1.DeploymentReplicaFailure); c == nil || c.Reason != "FailedCreate" || c.Message != "quota" {
		t.Fatalf("ReplicaFailure = %+v", c)
	}
	newRS.Status.Conditions = nil
	d.Status = st
	if c := getCondition(rolloutStatus(d, []*appsv1.ReplicaSet{newRS}, newRS, t0), appsv1.DeploymentReplicaFailure); c != nil {
		t.Fatal("ReplicaFailure must go once the ReplicaSet recovers")
	}
}

func TestProgressRecheck(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Status.Conditions = []appsv1.DeploymentCondition{cond(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated, t0)}
	incomplete := appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1}
	// Updated 3 minutes ago, 10 minute deadline: 7 minutes (+1s) left.
	if after, ok := progressRecheck(d, incomplete, t0.Add(3*time.Minute)); !ok || after != 7*time.Minute+time.Second {
		t.Errorf("recheck in %v, %v; want 7m1s", after, ok)
	}
	if after, ok := progressRecheck(d, incomplete, t0.Add(11*time.Minute)); !ok || after != time.Second {
		t.Errorf("due now: %v, %v", after, ok)
	}
	complete := appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3, ObservedGeneration: 1}
	if _, ok := progressRecheck(d, complete, t0); ok {
		t.Error("a complete rollout needs no recheck")
	}
	d.Status.Conditions[0].Reason = ReasonProgressDeadline
	if _, ok := progressRecheck(d, incomplete, t0); ok {
		t.Error("an already timed out rollout needs no recheck")
	}
}
