package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestFitErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *fitError
		want string
	}{
		{
			name: "the issue's example",
			err:  &fitError{numAllNodes: 3, reasons: map[string]int{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }": 1, reasonInsufficientCPU: 2}},
			want: "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient cpu.",
		},
		{
			name: "single reason",
			err:  &fitError{numAllNodes: 3, reasons: map[string]int{reasonInsufficientCPU: 3}},
			want: "0/3 nodes are available: 3 Insufficient cpu.",
		},
		{
			// Upstream sorts the "<count> <reason>" strings, so 10 sorts
			// before 2.
			name: "items sorted as strings",
			err:  &fitError{numAllNodes: 12, reasons: map[string]int{reasonInsufficientMemory: 2, reasonNodeAffinity: 10}},
			want: "0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory.",
		},
		{
			name: "no nodes at all",
			err:  &fitError{noNodes: true},
			want: "no nodes available to schedule pods",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("message\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestFitErrorFromDecision builds the message from real filter results:
// each node is counted under the first plugin that rejects it, and
// NodeResourcesFit reports every shortfall of a node.
func TestFitErrorFromDecision(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nodes   []*corev1.Node
		pod     *corev1.Pod
		want    string
		plugins pluginSet
	}{
		{
			name:    "not ready and too small",
			nodes:   nodes(mkNode("a", withReady(corev1.ConditionFalse), withAlloc("64", "64Gi", 110)), mkNode("b"), mkNode("c")),
			pod:     testPod("p", "8", "1Gi"),
			want:    "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient cpu.",
			plugins: pluginTaintToleration | pluginNodeResourcesFit,
		},
		{
			name:    "several shortfalls on one node",
			nodes:   nodes(mkNode("a"), mkNode("b", cordoned)),
			pod:     testPod("p", "8", "16Gi"),
			want:    "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) were unschedulable.",
			plugins: pluginNodeResourcesFit | pluginNodeUnschedulable,
		},
		{
			name:    "no nodes",
			pod:     testPod("p", "1", ""),
			want:    errNoNodes,
			plugins: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node, fe := decide(t, cacheWith(tc.nodes), tc.pod)
			if fe == nil {
				t.Fatalf("scheduled on %s, want a fit error", node)
			}
			if got := fe.Error(); got != tc.want {
				t.Errorf("message\n got %q\nwant %q", got, tc.want)
			}
			if fe.plugins != tc.plugins {
				t.Errorf("rejecting plugins = %b, want %b", fe.plugins, tc.plugins)
			}
		})
	}
}
