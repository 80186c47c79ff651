package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// The filters below answer one question each about one node, in upstream's
// default order. They read the cycle state prepared once per pod and the
// node's incremental totals; none of them walks the pods on the node.

// filterNode runs the filters in order and stops at the first rejection, as
// upstream's framework does, so a node is reported under one plugin.
func filterNode(st *cycleState, n *nodeInfo) verdict {
	for _, f := range [...]func(*cycleState, *nodeInfo) verdict{
		filterNodeUnschedulable,
		filterTaintToleration,
		filterNodeAffinity,
		filterNodePorts,
		filterNodeResourcesFit,
		filterPodTopologySpread,
		filterInterPodAffinity,
	} {
		if v := f(st, n); !v.passed() {
			return v
		}
	}
	return verdict{}
}

// filterNodeUnschedulable (NodeUnschedulable) rejects cordoned nodes unless
// the pod tolerates the node.kubernetes.io/unschedulable:NoSchedule taint,
// as DaemonSet pods do.
func filterNodeUnschedulable(st *cycleState, n *nodeInfo) verdict {
	if n.node.Spec.Unschedulable && !st.toleratesUnschedulable {
		return rejectNodeUnschedulable
	}
	return verdict{}
}

// filterTaintToleration (TaintToleration) rejects a node with a NoSchedule
// or NoExecute taint the pod does not tolerate, naming the first one.
func filterTaintToleration(st *cycleState, n *nodeInfo) verdict {
	for i := range n.filterTaints {
		if !tolerates(st.pod.Spec.Tolerations, &n.filterTaints[i]) {
			return n.taintVerdicts[i]
		}
	}
	return verdict{}
}

func tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	// Comparison operators (Gt/Lt on tolerations) are an alpha feature
	// upstream and stay off here.
	return corev1helpers.TolerationsTolerateTaint(klog.Background(), tolerations, taint, false)
}

// filterNodeAffinity (NodeAffinity) checks spec.nodeSelector and the
// required node affinity: matchExpressions (In, NotIn, Exists,
// DoesNotExist, Gt, Lt) and matchFields on metadata.name, with upstream's
// own matcher from component-helpers.
func filterNodeAffinity(st *cycleState, n *nodeInfo) verdict {
	// An unparsable term matches no node, as upstream treats it.
	if ok, _ := st.nodeAffinity.Match(n.node); !ok {
		return rejectNodeAffinity
	}
	return verdict{}
}

// filterNodePorts (NodePorts) rejects a node where a host port the pod
// wants is taken. A wildcard address (0.0.0.0 or unset) conflicts with
// every address of the same protocol and port.
func filterNodePorts(st *cycleState, n *nodeInfo) verdict {
	for _, hp := range st.pi.ports {
		ips := n.ports[protoPort{hp.protocol, hp.port}]
		if len(ips) == 0 {
			continue
		}
		if hp.ip == wildcardIP || ips[wildcardIP] > 0 || ips[hp.ip] > 0 {
			return rejectNodePorts
		}
	}
	return verdict{}
}

// filterNodeResourcesFit (NodeResourcesFit) compares the pod's requests with
// what the node's allocatable leaves after the requests of the pods on it
// (assumed ones included), and the pod count with allocatable pods. Every
// shortfall is reported, as upstream does.
//
// Worked example: allocatable 4 CPU, pods on the node request 3.5 CPU, the
// pod requests 1 CPU: 1000m > 4000m-3500m, so "Insufficient cpu".
func filterNodeResourcesFit(st *cycleState, n *nodeInfo) verdict {
	var found [4]verdict
	k := 0
	if int64(len(n.pods))+1 > n.allowedPods {
		found[k] = rejectTooManyPods
		k++
	}
	r := &st.pi.req
	if r.milliCPU > 0 && r.milliCPU > n.allocatable.milliCPU-n.requested.milliCPU {
		found[k] = rejectCPU
		k++
	}
	if r.memory > 0 && r.memory > n.allocatable.memory-n.requested.memory {
		found[k] = rejectMemory
		k++
	}
	if r.ephemeral > 0 && r.ephemeral > n.allocatable.ephemeral-n.requested.ephemeral {
		found[k] = rejectEphemeral
		k++
	}
	var scalar []string
	for name, v := range r.scalar {
		if v > 0 && v > n.allocatable.scalar[name]-n.requested.scalar[name] {
			scalar = append(scalar, "Insufficient "+string(name))
		}
	}
	if k == 1 && len(scalar) == 0 {
		return found[0]
	}
	if k == 0 && len(scalar) == 0 {
		return verdict{}
	}
	reasons := make([]string, 0, k+len(scalar))
	for i := 0; i < k; i++ {
		reasons = append(reasons, found[i].reasons[0])
	}
	return verdict{plugin: pluginNodeResourcesFit, reasons: append(reasons, scalar...)}
}
