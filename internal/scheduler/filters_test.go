package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// filterCase runs one filter for pod on node (with existing pods bound to
// it) and compares the reasons, nil meaning the node passes.
type filterCase struct {
	name     string
	pod      *corev1.Pod
	node     *corev1.Node
	existing []*corev1.Pod
	want     []string
}

func runFilterCases(t *testing.T, f func(*cycleState, *nodeInfo) verdict, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cacheWith(nodes(tc.node), tc.existing...)
			v := f(mustCycle(t, tc.pod), c.nodes[tc.node.Name])
			if v.passed() != (tc.want == nil) || !sameReasons(v.reasons, tc.want) {
				t.Errorf("reasons = %q (plugin %b), want %q", v.reasons, v.plugin, tc.want)
			}
		})
	}
}

func sameReasons(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, r := range a {
		count[r]++
	}
	for _, r := range b {
		count[r]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func tolerating(pod *corev1.Pod, ts ...corev1.Toleration) *corev1.Pod {
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, ts...)
	return pod
}

func TestFilterNodeUnschedulable(t *testing.T) {
	runFilterCases(t, filterNodeUnschedulable, []filterCase{
		{name: "schedulable node", pod: testPod("p", "", ""), node: mkNode("n")},
		{name: "cordoned node", pod: testPod("p", "", ""), node: mkNode("n", cordoned), want: []string{reasonNodeUnschedulable}},
		{name: "cordoned node, pod tolerates unschedulable taint",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Key: taintUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}),
			node: mkNode("n", cordoned)},
		{name: "cordoned node, pod tolerates everything",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Operator: corev1.TolerationOpExists}),
			node: mkNode("n", cordoned)},
		{name: "cordoned node, unrelated toleration",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Key: "other", Operator: corev1.TolerationOpExists}),
			node: mkNode("n", cordoned), want: []string{reasonNodeUnschedulable}},
	})
}

func TestFilterTaintToleration(t *testing.T) {
	gpu := withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)
	runFilterCases(t, filterTaintToleration, []filterCase{
		{name: "no taints", pod: testPod("p", "", ""), node: mkNode("n")},
		{name: "untolerated NoSchedule", pod: testPod("p", "", ""), node: mkNode("n", gpu),
			want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "tolerated with Equal",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}),
			node: mkNode("n", gpu)},
		{name: "Equal with another value does not tolerate",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "cpu"}),
			node: mkNode("n", gpu), want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "tolerated with Exists and no effect",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}),
			node: mkNode("n", gpu)},
		{name: "untolerated NoExecute",
			pod: testPod("p", "", ""), node: mkNode("n", withTaint("evict", "", corev1.TaintEffectNoExecute)),
			want: []string{"node(s) had untolerated taint {evict: }"}},
		{name: "toleration for NoSchedule does not cover NoExecute",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Key: "evict", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}),
			node: mkNode("n", withTaint("evict", "", corev1.TaintEffectNoExecute)), want: []string{"node(s) had untolerated taint {evict: }"}},
		{name: "PreferNoSchedule is only a score", pod: testPod("p", "", ""),
			node: mkNode("n", withTaint("soft", "x", corev1.TaintEffectPreferNoSchedule))},
		{name: "first untolerated taint is named",
			pod: tolerating(testPod("p", "", ""), corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists}),
			node: mkNode("n", withTaint("a", "1", corev1.TaintEffectNoSchedule), withTaint("b", "2", corev1.TaintEffectNoSchedule),
				withTaint("c", "3", corev1.TaintEffectNoSchedule)),
			want: []string{"node(s) had untolerated taint {b: 2}"}},
		{name: "node not Ready implies not-ready taint", pod: testPod("p", "", ""), node: mkNode("n", withReady(corev1.ConditionFalse)),
			want: []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{name: "node without Ready condition is not ready", pod: testPod("p", "", ""), node: mkNode("n", withReady("")),
			want: []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{name: "Ready Unknown implies unreachable taint", pod: testPod("p", "", ""), node: mkNode("n", withReady(corev1.ConditionUnknown)),
			want: []string{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"}},
		{name: "not-ready tolerated",
			pod:  tolerating(testPod("p", "", ""), corev1.Toleration{Key: taintNotReady, Operator: corev1.TolerationOpExists}),
			node: mkNode("n", withReady(corev1.ConditionFalse))},
		{name: "user taint named before implied not-ready", pod: testPod("p", "", ""),
			node: mkNode("n", gpu, withReady(corev1.ConditionFalse)), want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
	})
}

func TestNotReadyTaintNotDuplicated(t *testing.T) {
	c := cacheWith(nodes(mkNode("n", withReady(corev1.ConditionFalse), withTaint(taintNotReady, "", corev1.TaintEffectNoSchedule))))
	if got := len(c.nodes["n"].filterTaints); got != 1 {
		t.Errorf("filter taints = %v, want only the node's own not-ready taint", c.nodes["n"].filterTaints)
	}
}

func withNodeAffinity(pod *corev1.Pod, terms ...corev1.NodeSelectorTerm) *corev1.Pod {
	pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	return pod
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func TestFilterNodeAffinity(t *testing.T) {
	ssd := mkNode("n", withLabels("disk", "ssd", "cores", "16"))
	miss := []string{reasonNodeAffinity}
	selector := func(kv ...string) *corev1.Pod {
		p := testPod("p", "", "")
		p.Spec.NodeSelector = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
		return p
	}
	runFilterCases(t, filterNodeAffinity, []filterCase{
		{name: "no constraints", pod: testPod("p", "", ""), node: ssd},
		{name: "nodeSelector matches", pod: selector("disk", "ssd"), node: ssd},
		{name: "nodeSelector mismatch", pod: selector("disk", "hdd"), node: ssd, want: miss},
		{name: "In", pod: withNodeAffinity(testPod("p", "", ""), expr("disk", corev1.NodeSelectorOpIn, "hdd", "ssd")), node: ssd},
		{name: "In mismatch", pod: withNodeAffinity(testPod("p", "", ""), expr("disk", corev1.NodeSelectorOpIn, "hdd")), node: ssd, want: miss},
		{name: "NotIn", pod: withNodeAffinity(testPod("p", "", ""), expr("disk", corev1.NodeSelectorOpNotIn, "hdd")), node: ssd},
		{name: "NotIn mismatch", pod: withNodeAffinity(testPod("p", "", ""), expr("disk", corev1.NodeSelectorOpNotIn, "ssd")), node: ssd, want: miss},
		{name: "Exists", pod: withNodeAffinity(testPod("p", "", ""), expr("disk", corev1.NodeSelectorOpExists)), node: ssd},
		{name: "Exists mismatch", pod: withNodeAffinity(testPod("p", "", ""), expr("gpu", corev1.NodeSelectorOpExists)), node: ssd, want: miss},
		{name: "DoesNotExist", pod: withNodeAffinity(testPod("p", "", ""), expr("gpu", corev1.NodeSelectorOpDoesNotExist)), node: ssd},
		{name: "DoesNotExist mismatch", pod: withNodeAffinity(testPod("p", "", ""), expr("disk", corev1.NodeSelectorOpDoesNotExist)), node: ssd, want: miss},
		{name: "Gt", pod: withNodeAffinity(testPod("p", "", ""), expr("cores", corev1.NodeSelectorOpGt, "8")), node: ssd},
		{name: "Gt mismatch", pod: withNodeAffinity(testPod("p", "", ""), expr("cores", corev1.NodeSelectorOpGt, "16")), node: ssd, want: miss},
		{name: "Lt", pod: withNodeAffinity(testPod("p", "", ""), expr("cores", corev1.NodeSelectorOpLt, "32")), node: ssd},
		{name: "Lt mismatch", pod: withNodeAffinity(testPod("p", "", ""), expr("cores", corev1.NodeSelectorOpLt, "4")), node: ssd, want: miss},
		{name: "matchFields metadata.name",
			pod: withNodeAffinity(testPod("p", "", ""), corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n"}}}}), node: ssd},
		{name: "matchFields metadata.name mismatch",
			pod: withNodeAffinity(testPod("p", "", ""), corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"other"}}}}), node: ssd, want: miss},
		{name: "terms are ORed",
			pod: withNodeAffinity(testPod("p", "", ""), expr("disk", corev1.NodeSelectorOpIn, "hdd"), expr("cores", corev1.NodeSelectorOpExists)), node: ssd},
		{name: "nodeSelector and affinity must both match",
			pod: withNodeAffinity(selector("disk", "hdd"), expr("cores", corev1.NodeSelectorOpExists)), node: ssd, want: miss},
	})
}

func withHostPort(pod *corev1.Pod, proto corev1.Protocol, ip string, port int32) *corev1.Pod {
	pod.Spec.Containers[0].Ports = append(pod.Spec.Containers[0].Ports,
		corev1.ContainerPort{ContainerPort: 8080, HostPort: port, HostIP: ip, Protocol: proto})
	return pod
}

func TestFilterNodePorts(t *testing.T) {
	busy := []string{reasonNodePorts}
	existing := func(proto corev1.Protocol, ip string, port int32) []*corev1.Pod {
		return []*corev1.Pod{on("n", withHostPort(testPod("old", "", ""), proto, ip, port))}
	}
	runFilterCases(t, filterNodePorts, []filterCase{
		{name: "no host ports", pod: testPod("p", "", ""), node: mkNode("n"), existing: existing("", "", 80)},
		{name: "same port, both wildcard", pod: withHostPort(testPod("p", "", ""), "", "", 80), node: mkNode("n"),
			existing: existing("", "", 80), want: busy},
		{name: "different port", pod: withHostPort(testPod("p", "", ""), "", "", 81), node: mkNode("n"), existing: existing("", "", 80)},
		{name: "different protocol", pod: withHostPort(testPod("p", "", ""), corev1.ProtocolUDP, "", 80), node: mkNode("n"),
			existing: existing(corev1.ProtocolTCP, "", 80)},
		{name: "different specific addresses", pod: withHostPort(testPod("p", "", ""), "", "10.0.0.2", 80), node: mkNode("n"),
			existing: existing("", "10.0.0.1", 80)},
		{name: "specific address against wildcard in use", pod: withHostPort(testPod("p", "", ""), "", "10.0.0.2", 80), node: mkNode("n"),
			existing: existing("", "0.0.0.0", 80), want: busy},
		{name: "wildcard against a specific address in use", pod: withHostPort(testPod("p", "", ""), "", "", 80), node: mkNode("n"),
			existing: existing("", "10.0.0.1", 80), want: busy},
	})
}

func TestFilterNodeResourcesFit(t *testing.T) {
	withInit := func(pod *corev1.Pod, cpu string, sidecar bool) *corev1.Pod {
		c := corev1.Container{Name: "init" + cpu, Image: "i", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}
		if sidecar {
			always := corev1.ContainerRestartPolicyAlways
			c.RestartPolicy = &always
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
		return pod
	}
	twoContainers := func(cpu string) *corev1.Pod {
		p := testPod("p", cpu, "")
		p.Spec.Containers = append(p.Spec.Containers, *p.Spec.Containers[0].DeepCopy())
		p.Spec.Containers[1].Name = "second"
		return p
	}
	half := []*corev1.Pod{on("n", testPod("old", "1500m", "4Gi"))} // leaves 2500m and 4Gi
	runFilterCases(t, filterNodeResourcesFit, []filterCase{
		{name: "fits", pod: testPod("p", "2", "4Gi"), node: mkNode("n"), existing: half},
		{name: "insufficient cpu", pod: testPod("p", "2600m", "1Gi"), node: mkNode("n"), existing: half, want: []string{reasonInsufficientCPU}},
		{name: "insufficient memory", pod: testPod("p", "1", "5Gi"), node: mkNode("n"), existing: half, want: []string{reasonInsufficientMemory}},
		{name: "every shortfall is reported", pod: testPod("p", "3", "5Gi"), node: mkNode("n"), existing: half,
			want: []string{reasonInsufficientCPU, reasonInsufficientMemory}},
		{name: "too many pods", pod: testPod("p", "", ""), node: mkNode("n", withAlloc("4", "8Gi", 1)), existing: half,
			want: []string{reasonTooManyPods}},
		{name: "too many pods and insufficient cpu", pod: testPod("p", "3", ""), node: mkNode("n", withAlloc("4", "8Gi", 1)), existing: half,
			want: []string{reasonTooManyPods, reasonInsufficientCPU}},
		{name: "best-effort pod only needs a pod slot", pod: testPod("p", "", ""), node: mkNode("n", withAlloc("1", "1Gi", 110)),
			existing: []*corev1.Pod{on("n", testPod("old", "1", "1Gi"))}},
		{name: "ephemeral storage", pod: func() *corev1.Pod {
			p := testPod("p", "", "")
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("11Gi")
			return p
		}(), node: mkNode("n"), want: []string{reasonInsufficientEphemeral}},
		{name: "init container larger than containers counts (max 3 vs 1+1)",
			pod: withInit(twoContainers("1"), "3", false), node: mkNode("n"), existing: half, want: []string{reasonInsufficientCPU}},
		{name: "init container smaller than the containers' sum (max 2 vs 1+1)",
			pod: withInit(twoContainers("1"), "2", false), node: mkNode("n"), existing: half},
		{name: "sidecar adds to the containers (1 + 1+1)",
			pod: withInit(twoContainers("1"), "1", true), node: mkNode("n"), existing: half, want: []string{reasonInsufficientCPU}},
		{name: "overhead counts", pod: func() *corev1.Pod {
			p := testPod("p", "2400m", "")
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
			return p
		}(), node: mkNode("n"), existing: half, want: []string{reasonInsufficientCPU}},
		{name: "extended resource available", pod: func() *corev1.Pod {
			p := testPod("p", "", "")
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("2")
			return p
		}(), node: mkNode("n", withExtended("example.com/gpu", 2))},
		{name: "extended resource missing", pod: func() *corev1.Pod {
			p := testPod("p", "", "")
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
			return p
		}(), node: mkNode("n"), want: []string{"Insufficient example.com/gpu"}},
	})
}

func TestPodRequests(t *testing.T) {
	// The worked example of podRequests: init 2 and 3 CPU, containers 1
	// and 1, overhead 250m -> 3.25 CPU.
	p := testPod("p", "1", "")
	p.Spec.Containers = append(p.Spec.Containers, *p.Spec.Containers[0].DeepCopy())
	p.Spec.Containers[1].Name = "b"
	for _, cpu := range []string{"2", "3"} {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "i" + cpu,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}})
	}
	p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
	req, nzCPU, nzMem := podRequests(p)
	if req.milliCPU != 3250 || req.memory != 0 {
		t.Errorf("requests = %+v, want 3250m cpu and no memory", req)
	}
	// Scoring defaults fill in the memory no container requests (200Mi
	// for each of the two containers; the init containers' max is the same).
	if nzCPU != 3250 || nzMem != 2*defaultMemoryRequest {
		t.Errorf("non-zero requests = %dm, %d bytes; want 3250m and %d", nzCPU, nzMem, 2*defaultMemoryRequest)
	}
}
