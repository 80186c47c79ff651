package daemonset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testDS(mut func(*corev1.PodSpec)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 1,
			Annotations: map[string]string{appsv1.DeprecatedTemplateGeneration: "1"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
	if mut != nil {
		mut(&ds.Spec.Template.Spec)
	}
	return ds
}

func testNode(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestNodeShouldRunDaemonPod(t *testing.T) {
	noSchedule := func(key string) corev1.Taint {
		return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule}
	}
	noExecute := func(key string) corev1.Taint {
		return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute}
	}
	linux := map[string]string{"os": "linux"}
	cases := []struct {
		name            string
		spec            func(*corev1.PodSpec)
		node            *corev1.Node
		run, keepRuning bool
	}{
		{"plain node", nil, testNode("n", nil), true, true},
		{"nodeSelector matches", func(s *corev1.PodSpec) { s.NodeSelector = linux }, testNode("n", linux), true, true},
		{"nodeSelector does not match", func(s *corev1.PodSpec) { s.NodeSelector = linux }, testNode("n", nil), false, false},
		{"template nodeName elsewhere", func(s *corev1.PodSpec) { s.NodeName = "other" }, testNode("n", nil), false, false},
		{"template nodeName here", func(s *corev1.PodSpec) { s.NodeName = "n" }, testNode("n", nil), true, true},
		{"required affinity excludes", func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "os", Operator: corev1.NodeSelectorOpIn, Values: []string{"windows"}}}}},
			}}}
		}, testNode("n", linux), false, false},
		{"required affinity on node name field", func(s *corev1.PodSpec) {
			s.Affinity = nodeAffinityFor(nil, "n")
		}, testNode("n", nil), true, true},
		{"untolerated NoSchedule keeps running pod", nil, testNode("n", nil, noSchedule("dedicated")), false, true},
		{"untolerated NoExecute evicts", nil, testNode("n", nil, noExecute("dedicated")), false, false},
		{"tolerated NoExecute", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		}, testNode("n", nil, noExecute("dedicated")), true, true},
		{"PreferNoSchedule ignored", nil, testNode("n", nil, corev1.Taint{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}), true, true},
		// The default daemon tolerations.
		{"not-ready NoExecute", nil, testNode("n", nil, noExecute(corev1.TaintNodeNotReady)), true, true},
		{"unreachable NoExecute", nil, testNode("n", nil, noExecute(corev1.TaintNodeUnreachable)), true, true},
		{"disk pressure", nil, testNode("n", nil, noSchedule(corev1.TaintNodeDiskPressure)), true, true},
		{"memory pressure", nil, testNode("n", nil, noSchedule(corev1.TaintNodeMemoryPressure)), true, true},
		{"pid pressure", nil, testNode("n", nil, noSchedule(corev1.TaintNodePIDPressure)), true, true},
		{"cordoned", nil, testNode("n", nil, noSchedule(corev1.TaintNodeUnschedulable)), true, true},
		{"not-ready NoSchedule is not tolerated", nil, testNode("n", nil, noSchedule(corev1.TaintNodeNotReady)), false, true},
		{"network unavailable, pod network", nil, testNode("n", nil, noSchedule(corev1.TaintNodeNetworkUnavailable)), false, true},
		{"network unavailable, host network", func(s *corev1.PodSpec) { s.HostNetwork = true },
			testNode("n", nil, noSchedule(corev1.TaintNodeNetworkUnavailable)), true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run, keep := nodeShouldRunDaemonPod(c.node, testDS(c.spec))
			if run != c.run || keep != c.keepRuning {
				t.Fatalf("shouldRun, shouldContinueRunning = %v, %v; want %v, %v", run, keep, c.run, c.keepRuning)
			}
		})
	}
}

func TestPodTemplate(t *testing.T) {
	ds := testDS(func(s *corev1.PodSpec) {
		// A user toleration with the same key and effect is replaced.
		s.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64)}}
	})
	tmpl := podTemplate(ds, "h1")
	if tmpl.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "h1" || tmpl.Labels[templateGenerationLabel] != "1" || tmpl.Labels["app"] != "agent" {
		t.Fatalf("labels = %v", tmpl.Labels)
	}
	if len(tmpl.Spec.Tolerations) != len(daemonTolerations) {
		t.Fatalf("tolerations = %v, want the %d defaults", tmpl.Spec.Tolerations, len(daemonTolerations))
	}
	if tmpl.Spec.Tolerations[0].TolerationSeconds != nil {
		t.Fatal("user not-ready toleration was not replaced by the unbounded default")
	}
	if ds.Spec.Template.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "" || len(ds.Spec.Template.Spec.Tolerations) != 1 {
		t.Fatal("podTemplate mutated the DaemonSet")
	}
	hostNet := podTemplate(testDS(func(s *corev1.PodSpec) { s.HostNetwork = true }), "h")
	if n := len(hostNet.Spec.Tolerations); n != len(daemonTolerations)+1 {
		t.Fatalf("host network pod has %d tolerations, want %d", n, len(daemonTolerations)+1)
	}
}

func TestNodeAffinityAndTargetNode(t *testing.T) {
	pref := []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}}}
	user := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution:  &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "os", Operator: corev1.NodeSelectorOpExists}}}}},
		PreferredDuringSchedulingIgnoredDuringExecution: pref,
	}}
	got := nodeAffinityFor(user, "node-1")
	pod := &corev1.Pod{Spec: corev1.PodSpec{Affinity: got}}
	if n, err := targetNode(pod); err != nil || n != "node-1" {
		t.Fatalf("targetNode = %q, %v", n, err)
	}
	if len(got.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatal("preferred terms were dropped")
	}
	if len(user.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields) != 0 {
		t.Fatal("nodeAffinityFor mutated its input")
	}
	pod.Spec.NodeName = "bound"
	if n, _ := targetNode(pod); n != "bound" {
		t.Fatalf("a bound pod's node is its binding, got %q", n)
	}
	if _, err := targetNode(&corev1.Pod{}); err == nil {
		t.Fatal("a pod with no affinity has a target node")
	}
}

func TestIsPodUpdated(t *testing.T) {
	gen := int64(3)
	pod := func(l map[string]string) *corev1.Pod { return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: l}} }
	cases := []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: "h"}, true},
		{map[string]string{templateGenerationLabel: "3"}, true},
		{map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: "old", templateGenerationLabel: "2"}, false},
		{nil, false},
	}
	for _, c := range cases {
		if got := isPodUpdated(pod(c.labels), "h", &gen); got != c.want {
			t.Errorf("isPodUpdated(%v) = %v", c.labels, got)
		}
	}
	if isPodUpdated(pod(nil), "", nil) {
		t.Error("empty hash matched an unlabelled pod")
	}
}

func TestNodeUpdateIrrelevant(t *testing.T) {
	base := testNode("n", map[string]string{"a": "b"})
	base.ResourceVersion = "1"
	base.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Unix(1, 0)}}
	heartbeat := base.DeepCopy()
	heartbeat.ResourceVersion = "2"
	heartbeat.Status.Conditions[0].LastHeartbeatTime = metav1.Unix(2, 0)
	if !nodeUpdateIrrelevant(base, heartbeat) {
		t.Error("a heartbeat woke daemon sets")
	}
	notReady := heartbeat.DeepCopy()
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	if nodeUpdateIrrelevant(base, notReady) {
		t.Error("a Ready flip was ignored")
	}
	relabelled := heartbeat.DeepCopy()
	relabelled.Labels = nil
	if nodeUpdateIrrelevant(base, relabelled) {
		t.Error("a label change was ignored")
	}
}
