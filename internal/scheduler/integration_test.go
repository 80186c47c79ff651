package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
)

func threeNodes(r *rig) {
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		r.createNode(nodeSpec{name: n, cpu: "4", memory: "8Gi"})
	}
}

func TestIntegrationSpreadsReplicasAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startRig(t)
	threeNodes(r)
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("web-%d", i)
		p := ownedBy(testPod(name, "100m", "128Mi"), types.UID("rs-web"))
		p.Labels["app"] = "web"
		r.createPod(p)
		names = append(names, name)
	}
	perNode := map[string]int{}
	for _, node := range r.waitBound(names...) {
		perNode[node]++
	}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		if perNode[n] != 2 {
			t.Errorf("replicas per node = %v, want 2 on each of the 3 nodes", perNode)
			break
		}
	}
	p, err := r.client.CoreV1().Pods("default").Get(r.ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := scheduledCondition(p); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("PodScheduled condition = %+v, want True (set by the API server on bind)", c)
	}
	r.waitEvent("web-0", ReasonScheduled, "Successfully assigned default/web-0 to "+p.Spec.NodeName)
}

func TestIntegrationTaintAvoidedUnlessTolerated(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startRig(t)
	threeNodes(r)
	r.createNode(nodeSpec{name: "gpu", cpu: "64", memory: "256Gi",
		taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}})
	r.createNode(nodeSpec{name: "down", cpu: "64", memory: "256Gi", notReady: true})
	var names []string
	for i := range 9 {
		name := fmt.Sprintf("plain-%d", i)
		r.createPod(testPod(name, "200m", "256Mi"))
		names = append(names, name)
	}
	for pod, node := range r.waitBound(names...) {
		if node == "gpu" || node == "down" {
			t.Errorf("%s landed on %s, which it does not tolerate", pod, node)
		}
	}
	tolerant := testPod("tolerant", "200m", "256Mi")
	tolerant.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	tolerant.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "gpu"}
	r.createPod(tolerant)
	if got := r.nodeOf("tolerant"); got != "gpu" {
		t.Errorf("tolerant pod on %s, want gpu", got)
	}
}

func TestIntegrationTooBigWaitsForBigNode(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startRig(t)
	threeNodes(r)
	r.createPod(testPod("huge", "8", "1Gi"))
	const want = "0/3 nodes are available: 3 Insufficient cpu."
	r.waitFor("PodScheduled=False", func() (bool, error) {
		p, err := r.client.CoreV1().Pods("default").Get(r.ctx, "huge", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := scheduledCondition(p)
		if c == nil || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != want {
			return false, fmt.Errorf("condition %+v", c)
		}
		return p.Spec.NodeName == "", fmt.Errorf("bound to %s", p.Spec.NodeName)
	})
	r.waitEvent("huge", ReasonFailedScheduling, want)

	r.createNode(nodeSpec{name: "big", cpu: "16", memory: "64Gi"})
	if got := r.nodeOf("huge"); got != "big" {
		t.Errorf("huge pod on %s, want big", got)
	}
}

func TestIntegrationRetriedWhenPodDeleted(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startRig(t)
	r.createNode(nodeSpec{name: "only", cpu: "2", memory: "4Gi"})
	r.createPod(testPod("first", "1500m", "1Gi"))
	r.nodeOf("first")
	r.createPod(testPod("second", "1500m", "1Gi"))
	r.waitEvent("second", ReasonFailedScheduling, "0/1 nodes are available: 1 Insufficient cpu.")

	zero := int64(0)
	if err := r.client.CoreV1().Pods("default").Delete(r.ctx, "first", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if got := r.nodeOf("second"); got != "only" {
		t.Errorf("second pod on %q, want only", got)
	}
}

func TestIntegrationAntiAffinityKeepsReplicasApart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startRig(t)
	threeNodes(r)
	db := func(name string) *corev1.Pod {
		p := testPod(name, "100m", "64Mi")
		p.Labels["app"] = "db"
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				TopologyKey:   corev1.LabelHostname,
			}},
		}}
		return p
	}
	for i := range 3 {
		r.createPod(db(fmt.Sprintf("db-%d", i)))
	}
	seen := map[string]string{}
	for pod, node := range r.waitBound("db-0", "db-1", "db-2") {
		if other, dup := seen[node]; dup {
			t.Errorf("%s and %s share node %s despite anti-affinity", pod, other, node)
		}
		seen[node] = pod
	}
	r.createPod(db("db-3"))
	const want = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
	r.waitEvent("db-3", ReasonFailedScheduling, want)
}

func scheduledCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// waitEvent waits for an event on the pod with the reason and message.
func (r *rig) waitEvent(pod, reason, message string) {
	r.t.Helper()
	sel := fields.Set{"involvedObject.name": pod, "reason": reason}.AsSelector().String()
	r.waitFor(fmt.Sprintf("event %s on %s", reason, pod), func() (bool, error) {
		evs, err := r.client.CoreV1().Events("default").List(r.ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return false, err
		}
		var got []string
		for _, e := range evs.Items {
			if e.Reason == reason && e.Message == message && e.InvolvedObject.Name == pod {
				return true, nil
			}
			got = append(got, e.Reason+": "+e.Message)
		}
		return false, fmt.Errorf("events %q", got)
	})
}
