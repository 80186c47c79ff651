package replicaset

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestRankedPodsLess(t *testing.T) {
	now := t0.Add(time.Hour)
	cost := func(v string) podOpt {
		return func(p *corev1.Pod) { p.Annotations = map[string]string{podDeletionCostAnnotation: v} }
	}
	restarted := func(n int32) podOpt {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
		}
	}
	sidecarRestarted := func(n int32) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "s", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "s", RestartCount: n}}
		}
	}
	running := phase(corev1.PodRunning)
	tests := []struct {
		name         string
		first, later *corev1.Pod // first must be deleted before later
		rankFirst    int
		rankLater    int
	}{
		{"unassigned before assigned", testPod("a"), testPod("b", onNode("n")), 0, 0},
		{"pending before unknown", testPod("a", onNode("n"), phase(corev1.PodPending)), testPod("b", onNode("n"), phase(corev1.PodUnknown)), 0, 0},
		{"unknown before running", testPod("a", onNode("n"), phase(corev1.PodUnknown)), testPod("b", onNode("n"), running), 0, 0},
		{"not ready before ready", testPod("a", onNode("n"), running, notReady), testPod("b", onNode("n"), ready(t0)), 0, 0},
		{"lower deletion cost first", testPod("a", onNode("n"), ready(t0), cost("-5")), testPod("b", onNode("n"), ready(t0), cost("10")), 0, 0},
		{"invalid cost counts as 0", testPod("a", onNode("n"), ready(t0), cost("bogus")), testPod("b", onNode("n"), ready(t0), cost("1")), 0, 0},
		{"crowded node first", testPod("a", onNode("n1"), ready(t0)), testPod("b", onNode("n2"), ready(t0)), 3, 1},
		// 1 minute vs 30 minutes of readiness fall in different log2 buckets.
		{"ready more recently first", testPod("a", onNode("n"), ready(now.Add(-time.Minute))), testPod("b", onNode("n"), ready(now.Add(-30*time.Minute))), 0, 0},
		{"more restarts first", testPod("a", onNode("n"), ready(t0), restarted(5)), testPod("b", onNode("n"), ready(t0), restarted(1)), 0, 0},
		{"sidecar restarts break a tie", testPod("a", onNode("n"), ready(t0), sidecarRestarted(3)), testPod("b", onNode("n"), ready(t0)), 0, 0},
		{"created more recently first", testPod("a", onNode("n"), running, created(now.Add(-time.Minute))), testPod("b", onNode("n"), running, created(now.Add(-30*time.Minute))), 0, 0},
		{"zero creation time first", testPod("a", onNode("n"), running, created(time.Time{})), testPod("b", onNode("n"), running), 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := rankedPods{pods: []*corev1.Pod{tc.first, tc.later}, rank: []int{tc.rankFirst, tc.rankLater}, now: now}
			if !s.Less(0, 1) {
				t.Errorf("%s should be deleted before %s", tc.first.Name, tc.later.Name)
			}
			if s.Less(1, 0) {
				t.Errorf("%s ranked before %s as well: order is not strict", tc.later.Name, tc.first.Name)
			}
		})
	}
}

func TestRankedPodsSameBucketUsesUID(t *testing.T) {
	now := t0.Add(time.Hour)
	// Created 12s and 10s ago: same log2 bucket, so the (smaller) UID of
	// the older pod puts it first, where strict age would not.
	a := testPod("a", onNode("n"), phase(corev1.PodRunning), created(now.Add(-12*time.Second)))
	b := testPod("b", onNode("n"), phase(corev1.PodRunning), created(now.Add(-10*time.Second)))
	s := rankedPods{pods: []*corev1.Pod{b, a}, rank: []int{0, 0}, now: now}
	if !s.Less(1, 0) || s.Less(0, 1) {
		t.Fatal("within one age bucket the smaller UID should go first")
	}
}

func TestPodsToDelete(t *testing.T) {
	now := t0.Add(time.Hour)
	pods := []*corev1.Pod{
		testPod("ready-n1", onNode("n1"), ready(t0)),
		testPod("ready-n2", onNode("n2"), ready(t0)),
		testPod("unscheduled"),
		testPod("notready", onNode("n2"), phase(corev1.PodRunning), notReady),
		testPod("ready-n2b", onNode("n2"), ready(t0)),
	}
	// A sibling ReplicaSet also crowds n2.
	related := append([]*corev1.Pod{testPod("other", onNode("n2"), ready(t0))}, pods...)
	got := podsToDelete(pods, related, 3, now)
	names := []string{got[0].Name, got[1].Name, got[2].Name}
	want := []string{"unscheduled", "notready"}
	if names[0] != want[0] || names[1] != want[1] {
		t.Fatalf("deletion order %v, want %v first", names, want)
	}
	if names[2] != "ready-n2" && names[2] != "ready-n2b" {
		t.Fatalf("third victim %s should come from the crowded node n2", names[2])
	}
	if pods[0].Name != "ready-n1" || pods[2].Name != "unscheduled" {
		t.Fatal("podsToDelete reordered its input")
	}
	if all := podsToDelete(pods, related, 10, now); len(all) != len(pods) {
		t.Fatalf("asking for more than there are returns %d pods", len(all))
	}
}
