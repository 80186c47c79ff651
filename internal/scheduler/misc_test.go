package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeChange(t *testing.T) {
	base := mkNode("n")
	for _, tc := range []struct {
		name   string
		change func(*corev1.Node)
		want   pluginSet
	}{
		{"heartbeat only", func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = metav1.Now() }, 0},
		{"allocatable", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("8") }, pluginNodeResourcesFit},
		{"labels", func(n *corev1.Node) { n.Labels["zone"] = "z1" }, pluginNodeAffinity | pluginPodTopologySpread | pluginInterPodAffinity},
		{"taints", withTaint("x", "", corev1.TaintEffectNoSchedule), pluginTaintToleration | pluginPodTopologySpread},
		{"became ready", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, pluginTaintToleration | pluginPodTopologySpread},
		{"cordoned", cordoned, pluginNodeUnschedulable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := base.DeepCopy()
			tc.change(changed)
			if got := nodeChange(base, changed); got != tc.want {
				t.Errorf("nodeChange = %b, want %b", got, tc.want)
			}
		})
	}
}

func TestResponsibleFor(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		mut  func(*corev1.Pod)
		want bool
	}{
		{"pending, default scheduler", func(*corev1.Pod) {}, true},
		{"explicit default-scheduler", func(p *corev1.Pod) { p.Spec.SchedulerName = "default-scheduler" }, true},
		{"another scheduler", func(p *corev1.Pod) { p.Spec.SchedulerName = "volcano" }, false},
		{"bound", func(p *corev1.Pod) { p.Spec.NodeName = "n" }, false},
		{"terminating", func(p *corev1.Pod) { p.DeletionTimestamp = &now }, false},
		{"failed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, false},
		{"gated", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "wait"}} }, false},
	} {
		p := testPod("p", "", "")
		tc.mut(p)
		if got := responsibleFor(p); got != tc.want {
			t.Errorf("%s: responsibleFor = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWithScheduledCondition(t *testing.T) {
	t0 := metav1.NewTime(time.Unix(100, 0))
	t1 := metav1.NewTime(time.Unix(200, 0))
	pending := testPod("p", "", "")
	updated, changed := withScheduledCondition(pending, "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.", t0)
	if !changed || len(updated.Status.Conditions) != 1 || len(pending.Status.Conditions) != 0 {
		t.Fatalf("first write: changed=%v conditions=%v (input %v), want one new condition on a copy", changed, updated.Status.Conditions, pending.Status.Conditions)
	}
	c := updated.Status.Conditions[0]
	if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != "Unschedulable" || !c.LastTransitionTime.Equal(&t0) {
		t.Errorf("condition = %+v", c)
	}
	if _, changed := withScheduledCondition(updated, "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.", t1); changed {
		t.Errorf("same condition rewritten, want no write")
	}
	again, changed := withScheduledCondition(updated, "Unschedulable", "0/4 nodes are available: 4 Insufficient cpu.", t1)
	if !changed || !again.Status.Conditions[0].LastTransitionTime.Equal(&t0) {
		t.Errorf("message change: changed=%v transition %v, want a write keeping the transition time %v", changed, again.Status.Conditions[0].LastTransitionTime, t0)
	}
	again.Status.Conditions[0].Status = corev1.ConditionTrue
	flipped, _ := withScheduledCondition(again, "Unschedulable", "x", t1)
	if !flipped.Status.Conditions[0].LastTransitionTime.Equal(&t1) {
		t.Errorf("status change kept transition time %v, want %v", flipped.Status.Conditions[0].LastTransitionTime, t1)
	}
}

func TestQuantiles(t *testing.T) {
	var samples []time.Duration
	for i := 200; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	q := quantiles(samples)
	// Nearest rank: p50 is the 100th, p90 the 180th, p99 the 198th.
	if q.Count != 200 || q.P50 != 100*time.Millisecond || q.P90 != 180*time.Millisecond || q.P99 != 198*time.Millisecond || q.Max != 200*time.Millisecond {
		t.Errorf("quantiles = %+v", q)
	}
	if q := quantiles(nil); q != (Quantiles{}) {
		t.Errorf("quantiles(nil) = %+v, want zero", q)
	}
}

func TestLatencyRing(t *testing.T) {
	var r ring
	for i := range latencySamples + 10 {
		r.add(time.Duration(i))
	}
	got := r.ordered()
	if len(got) != latencySamples || got[0] != 10 || got[len(got)-1] != time.Duration(latencySamples+9) {
		t.Errorf("ring keeps %d samples from %v to %v, want the last %d oldest first", len(got), got[0], got[len(got)-1], latencySamples)
	}
}
