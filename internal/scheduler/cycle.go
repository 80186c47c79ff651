package scheduler

import (
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// cycleState is everything one scheduling attempt of one pod needs,
// computed once (upstream's PreFilter/PreScore) so the per-node filters and
// scores are cheap.
type cycleState struct {
	pod *corev1.Pod
	pi  *podInfo

	nodeAffinity           nodeaffinity.RequiredNodeAffinity
	preferredNodeAffinity  *nodeaffinity.PreferredSchedulingTerms // nil: no preferred terms
	toleratesUnschedulable bool
	preferTolerations      []corev1.Toleration

	// The pod's own affinity terms with namespace selectors resolved to
	// namespaces, as upstream resolves them for the incoming pod.
	requiredAffinity      []affinityTerm
	requiredAntiAffinity  []affinityTerm
	preferredAffinity     []affinityTerm
	preferredAntiAffinity []affinityTerm

	hardSpread    []spreadConstraint
	softSpread    []spreadConstraint
	defaultSpread bool // softSpread are the system defaults

	nsLister   corelisters.NamespaceLister
	nsLabels   labels.Set
	nsResolved bool

	// Filled under the cache lock.
	spread        *spreadFilterState
	affinity      *affinityFilterState
	spreadScore   *spreadScoreState
	affinityScore topologyCounts
}

// newCycleState parses the pod. An error here is a pod the scheduler cannot
// make sense of (an invalid selector): the attempt fails as an error.
func newCycleState(pod *corev1.Pod, nsLister corelisters.NamespaceLister) (*cycleState, error) {
	pi, err := newPodInfo(pod)
	if err != nil {
		return nil, fmt.Errorf("parsing pod affinity: %w", err)
	}
	st := &cycleState{pod: pod, pi: pi, nsLister: nsLister,
		nodeAffinity:      nodeaffinity.GetRequiredNodeAffinity(pod),
		preferTolerations: preferNoScheduleTolerations(pod.Spec.Tolerations),
		toleratesUnschedulable: tolerates(pod.Spec.Tolerations,
			&corev1.Taint{Key: taintUnschedulable, Effect: corev1.TaintEffectNoSchedule}),
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		st.preferredNodeAffinity, err = nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		if err != nil {
			return nil, fmt.Errorf("parsing preferred node affinity: %w", err)
		}
	}
	st.requiredAffinity = st.resolveNamespaces(pi.requiredAffinity)
	st.requiredAntiAffinity = st.resolveNamespaces(pi.requiredAntiAffinity)
	st.preferredAffinity = st.resolveNamespaces(pi.preferredAffinity)
	st.preferredAntiAffinity = st.resolveNamespaces(pi.preferredAntiAffinity)
	if st.hardSpread, err = parseSpreadConstraints(pod, corev1.DoNotSchedule); err != nil {
		return nil, err
	}
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		if st.softSpread, err = parseSpreadConstraints(pod, corev1.ScheduleAnyway); err != nil {
			return nil, err
		}
	} else {
		st.softSpread = defaultSpreadConstraints(pi)
		st.defaultSpread = true
	}
	return st, nil
}

// namespaceLabels returns the labels of the pod's namespace, which existing
// pods' namespaceSelectors are matched against.
func (st *cycleState) namespaceLabels() labels.Set {
	if !st.nsResolved {
		st.nsResolved = true
		if st.nsLister != nil {
			if ns, err := st.nsLister.Get(st.pod.Namespace); err == nil {
				st.nsLabels = ns.Labels
			}
		}
	}
	return st.nsLabels
}

// resolveNamespaces turns namespaceSelectors into namespace lists, on
// copies: the pod's parsed terms keep their selectors for when the pod is
// an existing pod that later pods are matched against.
func (st *cycleState) resolveNamespaces(terms []affinityTerm) []affinityTerm {
	var out []affinityTerm
	for i := range terms {
		if terms[i].nsSelector == nil {
			continue
		}
		if out == nil {
			out = append([]affinityTerm(nil), terms...)
		}
		t := &out[i]
		t.namespaces = maps.Clone(t.namespaces)
		sel := t.nsSelector
		t.nsSelector = nil
		if sel.Empty() {
			t.allNamespaces, t.namespaceList = true, nil
			continue
		}
		if st.nsLister != nil {
			if nss, err := st.nsLister.List(sel); err == nil {
				for _, ns := range nss {
					t.namespaces[ns.Name] = struct{}{}
				}
			}
		}
		t.namespaceList = t.namespaceList[:0:0]
		for ns := range t.namespaces {
			t.namespaceList = append(t.namespaceList, ns)
		}
	}
	if out == nil {
		return terms
	}
	return out
}

// numFeasibleNodesToFind is upstream's adaptive percentageOfNodesToScore:
// clusters under 100 nodes check every node; larger ones stop filtering
// once they have found max(100, n*(50 - n/125)%) feasible nodes, no less
// than 5%.
//
// Worked example: 5000 nodes: 50-40 = 10%, so 500 feasible nodes are enough.
func numFeasibleNodesToFind(all int) int {
	const minFeasible, minPercent = 100, 5
	if all < minFeasible {
		return all
	}
	percent := max(50-all/125, minPercent)
	return max(all*percent/100, minFeasible)
}

// unsafeSchedule chooses a node for the pod, or explains why none fits.
// The caller holds the cache lock.
func (s *Scheduler) unsafeSchedule(st *cycleState) (*nodeInfo, *fitError) {
	nodes := s.cache.nodeList
	if len(nodes) == 0 {
		return nil, &fitError{noNodes: true}
	}
	if len(st.hardSpread) > 0 {
		st.spread = s.cache.unsafePrepareSpreadFilter(st, st.hardSpread)
	}
	st.affinity = s.cache.unsafePrepareAffinityFilter(st)

	feasible, fe := s.findFeasible(st, nodes)
	if len(feasible) == 0 {
		return nil, fe
	}
	if len(feasible) == 1 {
		return feasible[0], nil
	}
	return s.selectHost(st, feasible), nil
}

// findFeasible filters nodes, starting where the previous attempt stopped
// so that sampling large clusters visits every node over time.
func (s *Scheduler) findFeasible(st *cycleState, nodes []*nodeInfo) ([]*nodeInfo, *fitError) {
	want := numFeasibleNodesToFind(len(nodes))
	feasible := s.feasibleBuf[:0]
	fe := &fitError{numAllNodes: len(nodes)}
	start := s.nextStartNodeIndex % len(nodes)
	processed := 0
	for i := 0; i < len(nodes) && len(feasible) < want; i++ {
		n := nodes[(start+i)%len(nodes)]
		processed++
		if v := filterNode(st, n); v.passed() {
			feasible = append(feasible, n)
		} else {
			fe.add(v)
		}
	}
	s.nextStartNodeIndex = (start + processed) % len(nodes)
	s.feasibleBuf = feasible
	return feasible, fe
}

// selectHost scores the feasible nodes with every score plugin, weighs and
// sums them, and picks the best; ties are broken uniformly at random, as
// upstream's reservoir sampling does.
func (s *Scheduler) selectHost(st *cycleState, feasible []*nodeInfo) *nodeInfo {
	raw := resized(&s.rawBuf, len(feasible))
	total := resized(&s.totalBuf, len(feasible))
	run := func(score func(*cycleState, *nodeInfo) int64, normalize func([]int64), weight int64) {
		for i, n := range feasible {
			raw[i] = score(st, n)
		}
		if normalize != nil {
			normalize(raw)
		}
		for i, v := range raw {
			total[i] += v * weight
		}
	}
	run(scoreTaintToleration, func(r []int64) { normalizeDefault(r, true) }, weightTaintToleration)
	if st.preferredNodeAffinity != nil {
		run(scoreNodeAffinity, func(r []int64) { normalizeDefault(r, false) }, weightNodeAffinity)
	}
	run(scoreLeastAllocated, nil, weightNodeResourcesFit)
	if st.pi.req.milliCPU != 0 || st.pi.req.memory != 0 {
		run(scoreBalancedAllocation, nil, weightBalancedAllocation)
	}
	if len(st.softSpread) > 0 {
		st.spreadScore = s.cache.unsafePrepareSpreadScore(st, feasible)
	}
	if st.spreadScore != nil && len(st.spreadScore.constraints) > 0 {
		run(scorePodTopologySpread, func(r []int64) { normalizeSpread(r, feasible, st.spreadScore) }, weightPodTopologySpread)
	}
	if st.affinityScore = s.cache.unsafePrepareAffinityScore(st); st.affinityScore != nil {
		run(scoreInterPodAffinity, normalizeMinMax, weightInterPodAffinity)
	}
	best, ties := 0, 0
	for i, v := range total {
		switch {
		case v > total[best]:
			best, ties = i, 1
		case v == total[best]:
			ties++
			if s.rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return feasible[best]
}

func resized(buf *[]int64, n int) []int64 {
	if cap(*buf) < n {
		*buf = make([]int64, n)
	}
	b := (*buf)[:n]
	clear(b)
	return b
}
