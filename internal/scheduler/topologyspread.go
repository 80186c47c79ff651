package scheduler

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// spreadConstraint is a parsed TopologySpreadConstraint (PodTopologySpread).
type spreadConstraint struct {
	maxSkew     int32
	topologyKey string
	minDomains  int32
	selector    labels.Selector
	// owner, when set, replaces the selector: upstream's system default
	// constraints select the pods of the same Service/ReplicaSet/StatefulSet;
	// Skiff approximates that with the pods of the same controller.
	owner         types.UID
	honorAffinity bool // nodeAffinityPolicy Honor (the default)
	honorTaints   bool // nodeTaintsPolicy Honor (default Ignore)
}

// parseSpreadConstraints returns the pod's constraints with the given
// whenUnsatisfiable, their matchLabelKeys folded into the selector.
func parseSpreadConstraints(pod *corev1.Pod, action corev1.UnsatisfiableConstraintAction) ([]spreadConstraint, error) {
	var out []spreadConstraint
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("topology spread constraint %d: %w", i, err)
		}
		for _, key := range c.MatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				r, err := labels.NewRequirement(key, selection.In, []string{v})
				if err != nil {
					return nil, fmt.Errorf("topology spread constraint %d matchLabelKeys: %w", i, err)
				}
				sel = sel.Add(*r)
			}
		}
		sc := spreadConstraint{maxSkew: c.MaxSkew, topologyKey: c.TopologyKey, selector: sel,
			honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor}
		if c.MinDomains != nil {
			sc.minDomains = *c.MinDomains
		}
		out = append(out, sc)
	}
	return out, nil
}

// defaultSpreadConstraints are upstream's system defaults (soft: hostname
// maxSkew 3, zone maxSkew 5), applied to pods without constraints of their
// own that belong to a controller.
func defaultSpreadConstraints(p *podInfo) []spreadConstraint {
	if p.owner == "" {
		return nil
	}
	return []spreadConstraint{
		{maxSkew: 3, topologyKey: corev1.LabelHostname, owner: p.owner, honorAffinity: true},
		{maxSkew: 5, topologyKey: corev1.LabelTopologyZone, owner: p.owner, honorAffinity: true},
	}
}

// selects reports whether an existing pod counts for the constraint of a
// pod in namespace ns. Terminating pods do not count, as upstream.
func (c *spreadConstraint) selects(p *podInfo, ns string) bool {
	if p.pod.Namespace != ns || p.terminating() {
		return false
	}
	if c.owner != "" {
		return p.owner == c.owner
	}
	return c.selector.Matches(labels.Set(p.pod.Labels))
}

// countByNode tallies per node the cached pods the constraint selects.
// The result is read-only: for controller-based constraints it is the
// cache's own incremental count.
func (c *spreadConstraint) countByNode(sc *schedCache, ns string) map[*nodeInfo]int64 {
	if c.owner != "" {
		// A controller's pods share its namespace.
		return sc.ownerCounts[c.owner]
	}
	counts := map[*nodeInfo]int64{}
	sc.unsafeCandidates(c.selector, []string{ns}, func(p *podInfo) {
		if p.node != nil && c.selects(p, ns) {
			counts[p.node]++
		}
	})
	return counts
}

// nodeIncluded applies the constraint's node inclusion policies.
func (c *spreadConstraint) nodeIncluded(st *cycleState, n *nodeInfo) bool {
	if c.honorAffinity {
		if ok, _ := st.nodeAffinity.Match(n.node); !ok {
			return false
		}
	}
	if c.honorTaints {
		for i := range n.filterTaints {
			if !tolerates(st.pod.Spec.Tolerations, &n.filterTaints[i]) {
				return false
			}
		}
	}
	return true
}

func hasAllKeys(n *nodeInfo, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := n.node.Labels[cs[i].topologyKey]; !ok {
			return false
		}
	}
	return true
}

// spreadFilterState holds, per hard constraint, the matching pods in each
// topology domain of the eligible nodes and the smallest such count.
type spreadFilterState struct {
	constraints []spreadConstraint
	domains     []map[string]int64
	minMatch    []int64
	selfMatch   []int64
}

// unsafePrepareSpreadFilter counts matching pods per domain over every node
// that has all the constraints' keys and passes their inclusion policies.
func (sc *schedCache) unsafePrepareSpreadFilter(st *cycleState, cs []spreadConstraint) *spreadFilterState {
	s := &spreadFilterState{constraints: cs, domains: make([]map[string]int64, len(cs)),
		minMatch: make([]int64, len(cs)), selfMatch: make([]int64, len(cs))}
	podLabels := labels.Set(st.pod.Labels)
	for i := range cs {
		c := &cs[i]
		if c.selector.Matches(podLabels) {
			s.selfMatch[i] = 1
		}
		counts := c.countByNode(sc, st.pod.Namespace)
		domains := map[string]int64{}
		for _, n := range sc.nodeList {
			if !hasAllKeys(n, cs) || !c.nodeIncluded(st, n) {
				continue
			}
			domains[n.node.Labels[c.topologyKey]] += counts[n]
		}
		s.domains[i] = domains
		lowest := int64(math.MaxInt64)
		for _, v := range domains {
			lowest = min(lowest, v)
		}
		// Fewer domains than minDomains means the empty ones to come count
		// as zero (worked example: minDomains 3, two zones with 2 and 3
		// pods: the global minimum is 0, not 2).
		if len(domains) == 0 || int32(len(domains)) < c.minDomains {
			lowest = 0
		}
		s.minMatch[i] = lowest
	}
	return s
}

// filterPodTopologySpread (PodTopologySpread, DoNotSchedule constraints):
// placing the pod in the node's domain must keep
// matching + self - globalMinimum <= maxSkew.
//
// Worked example: maxSkew 1, nodes a, b, c holding 1, 0, 0 replicas: on a
// the skew would be 1+1-0 = 2 > 1 (rejected); on b 0+1-0 = 1 (fits).
func filterPodTopologySpread(st *cycleState, n *nodeInfo) verdict {
	s := st.spread
	if s == nil {
		return verdict{}
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := n.node.Labels[c.topologyKey]
		if !ok {
			return rejectSpreadMissingLabel
		}
		if s.domains[i][v]+s.selfMatch[i]-s.minMatch[i] > int64(c.maxSkew) {
			return rejectSpread
		}
	}
	return verdict{}
}

// spreadScoreState is the soft-constraint (ScheduleAnyway or system
// default) side of PodTopologySpread.
type spreadScoreState struct {
	constraints []spreadConstraint
	ignored     map[*nodeInfo]bool
	domains     []map[string]int64    // non-hostname keys
	perNode     []map[*nodeInfo]int64 // hostname keys
	weights     []float64
}

// unsafePrepareSpreadScore follows upstream's PreScore: domains are those of
// the feasible nodes; with explicit constraints a feasible node missing a
// key is ignored (scored 0), with system defaults it just skips that key.
func (sc *schedCache) unsafePrepareSpreadScore(st *cycleState, feasible []*nodeInfo) *spreadScoreState {
	cs := st.softSpread
	if st.defaultSpread {
		cs = withKeysPresent(cs, feasible)
	}
	s := &spreadScoreState{constraints: cs, ignored: map[*nodeInfo]bool{},
		domains: make([]map[string]int64, len(cs)), perNode: make([]map[*nodeInfo]int64, len(cs)),
		weights: make([]float64, len(cs))}
	requireAll := !st.defaultSpread
	sizes := make([]int, len(cs))
	for i := range cs {
		s.domains[i] = map[string]int64{}
	}
	for _, n := range feasible {
		if requireAll && !hasAllKeys(n, cs) {
			s.ignored[n] = true
			continue
		}
		for i := range cs {
			if cs[i].topologyKey == corev1.LabelHostname {
				continue
			}
			v := n.node.Labels[cs[i].topologyKey]
			if _, seen := s.domains[i][v]; !seen {
				s.domains[i][v] = 0
				sizes[i]++
			}
		}
	}
	for i := range cs {
		c := &cs[i]
		counts := c.countByNode(sc, st.pod.Namespace)
		if c.topologyKey == corev1.LabelHostname {
			s.perNode[i] = counts
			sizes[i] = len(feasible) - len(s.ignored)
		} else {
			for _, n := range sc.nodeList {
				if (requireAll && !hasAllKeys(n, cs)) || !c.nodeIncluded(st, n) {
					continue
				}
				v := n.node.Labels[c.topologyKey]
				if _, ok := s.domains[i][v]; ok {
					s.domains[i][v] += counts[n]
				}
			}
		}
		// log(size+2) keeps the counts of a topology with few domains from
		// being watered down by one with many.
		s.weights[i] = math.Log(float64(sizes[i] + 2))
	}
	return s
}

// withKeysPresent drops the constraints whose key no feasible node has:
// without explicit constraints such nodes skip the key when scored, so
// the constraint cannot change any score (typically the zone default on
// a cluster without zones).
func withKeysPresent(cs []spreadConstraint, feasible []*nodeInfo) []spreadConstraint {
	out := cs[:0:0]
	for i := range cs {
		for _, n := range feasible {
			if _, ok := n.node.Labels[cs[i].topologyKey]; ok {
				out = append(out, cs[i])
				break
			}
		}
	}
	return out
}

// scorePodTopologySpread sums, over the constraints whose key the node has,
// count*weight + maxSkew-1; fewer matching pods nearby is better, which
// normalizeSpread turns around.
func scorePodTopologySpread(st *cycleState, n *nodeInfo) int64 {
	s := st.spreadScore
	if s.ignored[n] {
		return 0
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := n.node.Labels[c.topologyKey]
		if !ok {
			continue
		}
		var cnt int64
		if c.topologyKey == corev1.LabelHostname {
			cnt = s.perNode[i][n]
		} else {
			cnt = s.domains[i][v]
		}
		score += float64(cnt)*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score))
}

// normalizeSpread maps raw spread scores to 0..100 with upstream's formula
// 100 * (max + min - s) / max; ignored nodes get 0.
//
// Worked example: raw [3, 5, 4] -> 100*(5+3-3)/5 = 100, 60, 80.
func normalizeSpread(scores []int64, feasible []*nodeInfo, s *spreadScoreState) {
	lowest, highest := int64(math.MaxInt64), int64(0)
	for i, v := range scores {
		if s.ignored[feasible[i]] {
			continue
		}
		lowest, highest = min(lowest, v), max(highest, v)
	}
	for i, v := range scores {
		switch {
		case s.ignored[feasible[i]]:
			scores[i] = 0
		case highest == 0:
			scores[i] = maxNodeScore
		default:
			scores[i] = maxNodeScore * (highest + lowest - v) / highest
		}
	}
}
