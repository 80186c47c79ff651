package replicaset

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

func readyAt(t time.Time) corev1.PodCondition {
	return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}
}

type podOpt func(*corev1.Pod)

func testPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "ns", UID: k8stypes.UID("uid-" + name),
		Labels: map[string]string{"app": "a"}, CreationTimestamp: metav1.NewTime(t0),
	}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = append(p.Status.Conditions, readyAt(t))
	}
}
func notReady(p *corev1.Pod) {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse})
}
func onNode(n string) podOpt          { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func labeled(l map[string]string) podOpt {
	return func(p *corev1.Pod) { p.Labels = l }
}
func created(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}

func testRS(replicas, minReady int32, st appsv1.ReplicaSetStatus) *owner {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "rs-uid", Generation: 3},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To(replicas),
			MinReadySeconds: minReady,
			Selector:        &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{
				Labels: map[string]string{"app": "a", "tier": "web"}}},
		},
		Status: st,
	}
	return viewReplicaSet(rs)
}

func TestComputeStatus(t *testing.T) {
	full := map[string]string{"app": "a", "tier": "web"}
	failure := appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: "FailedCreate", Message: "old", LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}
	tests := []struct {
		name        string
		o           *owner
		pods        []*corev1.Pod
		terminating *int32
		err         error
		want        appsv1.ReplicaSetStatus
	}{{
		name: "counts labeled, ready and available pods",
		o:    testRS(4, 10, appsv1.ReplicaSetStatus{}),
		pods: []*corev1.Pod{
			testPod("a", labeled(full), ready(t0.Add(-time.Minute))),   // available
			testPod("b", labeled(full), ready(t0.Add(-5*time.Second))), // ready, not yet available
			testPod("c", notReady),
			testPod("d", labeled(full)),
		},
		terminating: ptr.To[int32](2),
		want: appsv1.ReplicaSetStatus{Replicas: 4, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1,
			TerminatingReplicas: ptr.To[int32](2), ObservedGeneration: 3},
	}, {
		name: "minReadySeconds 0: ready is available",
		o:    testRS(2, 0, appsv1.ReplicaSetStatus{}),
		pods: []*corev1.Pod{testPod("a", ready(t0)), testPod("b", ready(t0))},
		want: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 3},
	}, {
		name: "create error adds ReplicaFailure FailedCreate",
		o:    testRS(3, 0, appsv1.ReplicaSetStatus{}),
		pods: []*corev1.Pod{testPod("a")},
		err:  errors.New("quota exceeded"),
		want: appsv1.ReplicaSetStatus{Replicas: 1, ObservedGeneration: 3, Conditions: []appsv1.ReplicaSetCondition{{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
			Message: "quota exceeded", LastTransitionTime: metav1.NewTime(t0)}}},
	}, {
		name: "delete error adds ReplicaFailure FailedDelete",
		o:    testRS(0, 0, appsv1.ReplicaSetStatus{}),
		pods: []*corev1.Pod{testPod("a")},
		err:  errors.New("forbidden"),
		want: appsv1.ReplicaSetStatus{Replicas: 1, ObservedGeneration: 3, Conditions: []appsv1.ReplicaSetCondition{{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedDelete",
			Message: "forbidden", LastTransitionTime: metav1.NewTime(t0)}}},
	}, {
		name: "an existing failure is kept as is while errors continue",
		o:    testRS(3, 0, appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{failure}}),
		err:  errors.New("new error"),
		want: appsv1.ReplicaSetStatus{ObservedGeneration: 3, Conditions: []appsv1.ReplicaSetCondition{failure}},
	}, {
		name: "success clears the failure",
		o:    testRS(0, 0, appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{failure}}),
		want: appsv1.ReplicaSetStatus{ObservedGeneration: 3},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := computeStatus(tc.o, tc.pods, tc.terminating, tc.err, t0)
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("computeStatus:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestComputeStatusIsStable(t *testing.T) {
	// Computing from an owner whose stored status is the computed one must
	// give the same status: the controller writes only on change.
	o := testRS(2, 0, appsv1.ReplicaSetStatus{})
	pods := []*corev1.Pod{testPod("a", ready(t0)), testPod("b")}
	first := computeStatus(o, pods, ptr.To[int32](0), nil, t0)
	o.status = first
	if second := computeStatus(o, pods, ptr.To[int32](0), nil, t0.Add(time.Hour)); !equality.Semantic.DeepEqual(first, second) {
		t.Fatalf("status changed without a change in pods:\n%+v\n%+v", first, second)
	}
}

func TestNextAvailableIn(t *testing.T) {
	tests := []struct {
		name     string
		pods     []*corev1.Pod
		minReady int32
		want     time.Duration
		ok       bool
	}{
		{"no minReadySeconds", []*corev1.Pod{testPod("a", ready(t0))}, 0, 0, false},
		{"nothing ready", []*corev1.Pod{testPod("a", notReady)}, 10, 0, false},
		{"all available", []*corev1.Pod{testPod("a", ready(t0.Add(-time.Minute)))}, 10, 0, false},
		// Ready 4s ago with minReadySeconds 10: 6s left, plus 1s rounding.
		{"earliest pending pod", []*corev1.Pod{
			testPod("a", ready(t0.Add(-2*time.Second))),
			testPod("b", ready(t0.Add(-4*time.Second))),
			testPod("c", ready(t0.Add(-time.Minute))),
		}, 10, 7 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := nextAvailableIn(tc.pods, tc.minReady, t0)
			if got != tc.want || ok != tc.ok {
				t.Errorf("nextAvailableIn = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestViewReplicationController(t *testing.T) {
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", Generation: 2},
		Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Selector: map[string]string{"app": "a"},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}}},
		Status: corev1.ReplicationControllerStatus{Replicas: 1, Conditions: []corev1.ReplicationControllerCondition{{
			Type: corev1.ReplicationControllerReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}}},
	}
	o := viewReplicationController(rc)
	if o.replicas != 3 || !o.selector.Matches(labelsOf(testPod("x"))) || o.status.Replicas != 1 {
		t.Fatalf("bad view: %+v", o)
	}
	// Status round-trips through the ReplicaSet form.
	if back := rsStatusToRC(o.status); !equality.Semantic.DeepEqual(back, rc.Status) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", back, rc.Status)
	}
	// An empty selector matches nothing.
	rc.Spec.Selector = nil
	if viewReplicationController(rc).selector.Matches(labelsOf(testPod("x"))) {
		t.Fatal("empty selector must match nothing")
	}
}
