package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// podInfo is a pod as the scheduler's cache holds it: the object plus what
// the filters need, computed once when the pod enters the cache rather than
// on every decision.
type podInfo struct {
	pod   *corev1.Pod
	uid   types.UID
	node  *nodeInfo // nil while the pod is only being scheduled
	owner types.UID // the controller ownerReference; "" when none

	req        resources
	nonZeroCPU int64
	nonZeroMem int64
	ports      []hostPort

	requiredAffinity      []affinityTerm
	requiredAntiAffinity  []affinityTerm
	preferredAffinity     []affinityTerm
	preferredAntiAffinity []affinityTerm

	// ownerCounted: the pod is in cache.ownerCounts.
	ownerCounted bool

	// assumed marks a pod the scheduler placed whose binding the informer
	// has not confirmed yet.
	assumed bool
}

func (p *podInfo) terminating() bool { return p.pod.DeletionTimestamp != nil }

// hasAffinity reports whether existing-pod terms of p can affect the scoring
// of other pods (InterPodAffinity's "pods with affinity").
func (p *podInfo) hasAffinity() bool {
	return len(p.requiredAffinity)+len(p.preferredAffinity)+len(p.preferredAntiAffinity)+len(p.requiredAntiAffinity) > 0
}

// newPodInfo parses a pod. Parse errors of label selectors (which the API
// server validates, so they should not happen) are returned; the term that
// failed is left out.
func newPodInfo(pod *corev1.Pod) (*podInfo, error) {
	p := &podInfo{pod: pod, uid: pod.UID}
	p.req, p.nonZeroCPU, p.nonZeroMem = podRequests(pod)
	p.ports = podHostPorts(pod)
	p.owner = controllerUID(pod)
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			p.requiredAffinity = parseTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, keep)
			p.preferredAffinity = parseWeightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, keep)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			p.requiredAntiAffinity = parseTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, keep)
			p.preferredAntiAffinity = parseWeightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, keep)
		}
	}
	return p, firstErr
}

// hostPort is one port a pod takes on its node's addresses.
type hostPort struct {
	protocol corev1.Protocol
	ip       string // "0.0.0.0" stands for every address
	port     int32
}

const wildcardIP = "0.0.0.0"

// podHostPorts lists the host ports of a pod's containers and sidecars
// (restartable init containers run for the pod's whole life, so their ports
// are held just the same).
func podHostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	collect := func(cs []corev1.Container, sidecarsOnly bool) {
		for i := range cs {
			c := &cs[i]
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{protocol: p.Protocol, ip: p.HostIP, port: p.HostPort}
				if hp.protocol == "" {
					hp.protocol = corev1.ProtocolTCP
				}
				if hp.ip == "" {
					hp.ip = wildcardIP
				}
				out = append(out, hp)
			}
		}
	}
	collect(pod.Spec.InitContainers, true)
	collect(pod.Spec.Containers, false)
	return out
}

// protoPort groups host ports that can conflict: same protocol and number.
type protoPort struct {
	protocol corev1.Protocol
	port     int32
}

// nodeInfo is a node and the sum of what the pods placed on it ask for.
// Every field is kept up to date incrementally by the cache.
type nodeInfo struct {
	name string
	node *corev1.Node // nil for a node the cache knows only through its pods

	allocatable resources
	allowedPods int64

	requested  resources
	nonZeroCPU int64
	nonZeroMem int64

	pods  map[types.UID]*podInfo
	ports map[protoPort]map[string]int // protocol/port -> host IP -> users

	// filterTaints are the NoSchedule and NoExecute taints the filter checks,
	// including the one implied by a node that is not Ready.
	filterTaints []corev1.Taint
	// taintVerdicts[i] rejects a pod for filterTaints[i], worded once per
	// node update rather than once per rejected pod.
	taintVerdicts []verdict
	preferTaints  []corev1.Taint // PreferNoSchedule, for scoring

	index int // position in cache.nodeList; -1 when not listed
}

func newNodeInfo(name string) *nodeInfo {
	return &nodeInfo{name: name, pods: map[types.UID]*podInfo{}, index: -1}
}

// Taints the scheduler assumes on a node that is not Ready, as upstream's
// node lifecycle controller would put them there (TaintNodesByCondition).
const (
	taintNotReady      = "node.kubernetes.io/not-ready"
	taintUnreachable   = "node.kubernetes.io/unreachable"
	taintUnschedulable = "node.kubernetes.io/unschedulable"
)

func (n *nodeInfo) setNode(node *corev1.Node) {
	n.node = node
	n.allocatable = resourcesFrom(node.Status.Allocatable)
	n.allowedPods = node.Status.Allocatable.Pods().Value()
	n.filterTaints = n.filterTaints[:0]
	n.preferTaints = n.preferTaints[:0]
	for _, t := range node.Spec.Taints {
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute:
			n.filterTaints = append(n.filterTaints, t)
		case corev1.TaintEffectPreferNoSchedule:
			n.preferTaints = append(n.preferTaints, t)
		}
	}
	if key := notReadyTaintKey(node); key != "" && !hasTaint(n.filterTaints, key, corev1.TaintEffectNoSchedule) {
		n.filterTaints = append(n.filterTaints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
	n.taintVerdicts = n.taintVerdicts[:0]
	for _, t := range n.filterTaints {
		n.taintVerdicts = append(n.taintVerdicts, rejection(pluginTaintToleration,
			fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)))
	}
}

// notReadyTaintKey returns the taint a node's Ready condition implies: none
// when Ready is True, unreachable when it is Unknown, not-ready when it is
// False or missing (a node that never reported is not ready).
func notReadyTaintKey(node *corev1.Node) string {
	for i := range node.Status.Conditions {
		c := &node.Status.Conditions[i]
		if c.Type != corev1.NodeReady {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			return ""
		case corev1.ConditionUnknown:
			return taintUnreachable
		}
		return taintNotReady
	}
	return taintNotReady
}

func hasTaint(taints []corev1.Taint, key string, effect corev1.TaintEffect) bool {
	for i := range taints {
		if taints[i].Key == key && taints[i].Effect == effect {
			return true
		}
	}
	return false
}

func (n *nodeInfo) addPod(p *podInfo, sign int64) {
	n.requested.add(p.req, sign)
	n.nonZeroCPU += sign * p.nonZeroCPU
	n.nonZeroMem += sign * p.nonZeroMem
	if sign > 0 {
		n.pods[p.uid] = p
		p.node = n
	} else {
		delete(n.pods, p.uid)
		p.node = nil
	}
	for _, hp := range p.ports {
		pp := protoPort{hp.protocol, hp.port}
		if n.ports == nil {
			n.ports = map[protoPort]map[string]int{}
		}
		ips := n.ports[pp]
		if ips == nil {
			ips = map[string]int{}
			n.ports[pp] = ips
		}
		ips[hp.ip] += int(sign)
		if ips[hp.ip] <= 0 {
			delete(ips, hp.ip)
			if len(ips) == 0 {
				delete(n.ports, pp)
			}
		}
	}
}

// affinityTerm is a parsed PodAffinityTerm: which pods it selects and the
// topology it relates them by.
type affinityTerm struct {
	selector   labels.Selector
	namespaces map[string]struct{}
	nsSelector labels.Selector // nil when the term has none
	// allNamespaces marks a term whose namespaceSelector is empty: it
	// selects pods of every namespace.
	allNamespaces bool
	// namespaceList narrows index walks to these namespaces; nil when the
	// term may select pods of any namespace.
	namespaceList []string
	topologyKey   string
	weight        int64 // for preferred terms
}

func parseTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm, onErr func(error)) []affinityTerm {
	out := make([]affinityTerm, 0, len(terms))
	for i := range terms {
		t, err := parseTerm(pod, &terms[i], 0)
		if err != nil {
			onErr(err)
			continue
		}
		out = append(out, t)
	}
	return out
}

func parseWeightedTerms(pod *corev1.Pod, terms []corev1.WeightedPodAffinityTerm, onErr func(error)) []affinityTerm {
	out := make([]affinityTerm, 0, len(terms))
	for i := range terms {
		t, err := parseTerm(pod, &terms[i].PodAffinityTerm, int64(terms[i].Weight))
		if err != nil {
			onErr(err)
			continue
		}
		out = append(out, t)
	}
	return out
}

// parseTerm follows upstream: a term without namespaces and without a
// namespaceSelector means the pod's own namespace; a nil labelSelector
// selects nothing.
func parseTerm(pod *corev1.Pod, term *corev1.PodAffinityTerm, weight int64) (affinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return affinityTerm{}, err
	}
	t := affinityTerm{selector: sel, topologyKey: term.TopologyKey, weight: weight, namespaces: map[string]struct{}{}}
	if term.NamespaceSelector != nil {
		t.nsSelector, err = metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return affinityTerm{}, err
		}
	}
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		t.namespaces[pod.Namespace] = struct{}{}
	}
	for _, ns := range term.Namespaces {
		t.namespaces[ns] = struct{}{}
	}
	if t.nsSelector == nil {
		for ns := range t.namespaces {
			t.namespaceList = append(t.namespaceList, ns)
		}
	}
	return t, nil
}

// matchesNamespace reports whether a pod in ns (whose namespace carries
// nsLabels) is within the term's namespaces.
func (t *affinityTerm) matchesNamespace(ns string, nsLabels labels.Set) bool {
	if t.allNamespaces {
		return true
	}
	if _, ok := t.namespaces[ns]; ok {
		return true
	}
	return t.nsSelector != nil && t.nsSelector.Matches(nsLabels)
}

func (t *affinityTerm) matches(p *corev1.Pod, nsLabels labels.Set) bool {
	return t.matchesNamespace(p.Namespace, nsLabels) && t.selector.Matches(labels.Set(p.Labels))
}
