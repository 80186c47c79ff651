package scheduler

import (
	"k8s.io/apimachinery/pkg/labels"
)

// topologyCounts counts pods per topology domain: key -> value -> count.
type topologyCounts map[string]map[string]int64

func (tc topologyCounts) add(key, value string, delta int64) {
	m := tc[key]
	if m == nil {
		m = map[string]int64{}
		tc[key] = m
	}
	m[value] += delta
}

// affinityFilterState is InterPodAffinity's PreFilter result for one pod.
type affinityFilterState struct {
	required     []affinityTerm
	requiredAnti []affinityTerm
	// affinity counts pods matching all of the required affinity terms,
	// per domain of each term's key.
	affinity topologyCounts
	// anti counts pods matching any required anti-affinity term.
	anti topologyCounts
	// existingAnti counts existing pods whose required anti-affinity
	// selects the incoming pod, per domain of their term's key.
	existingAnti topologyCounts
	// selfMatch: the pod matches all its own affinity terms, so it may be
	// the first of a group that wants to be together.
	selfMatch bool
}

// unsafePrepareAffinityFilter counts the pods each side's terms select. It
// returns nil when there is nothing to check.
func (sc *schedCache) unsafePrepareAffinityFilter(st *cycleState) *affinityFilterState {
	if len(st.requiredAffinity) == 0 && len(st.requiredAntiAffinity) == 0 && len(sc.withRequiredAnti) == 0 {
		return nil
	}
	s := &affinityFilterState{required: st.requiredAffinity, requiredAnti: st.requiredAntiAffinity,
		affinity: topologyCounts{}, anti: topologyCounts{}, existingAnti: topologyCounts{}}
	nsLabels := st.namespaceLabels()
	if len(s.required) > 0 {
		s.selfMatch = allTermsMatch(s.required, st.pi, nsLabels)
		first := &s.required[0]
		sc.unsafeCandidates(first.selector, first.namespaceList, func(p *podInfo) {
			if p.node == nil || p.node.node == nil || !allTermsMatch(s.required, p, nil) {
				return
			}
			for i := range s.required {
				if v, ok := p.node.node.Labels[s.required[i].topologyKey]; ok {
					s.affinity.add(s.required[i].topologyKey, v, 1)
				}
			}
		})
	}
	for i := range s.requiredAnti {
		t := &s.requiredAnti[i]
		sc.unsafeCandidates(t.selector, t.namespaceList, func(p *podInfo) {
			if p.node == nil || p.node.node == nil || !t.matches(p.pod, nil) {
				return
			}
			if v, ok := p.node.node.Labels[t.topologyKey]; ok {
				s.anti.add(t.topologyKey, v, 1)
			}
		})
	}
	for p := range sc.withRequiredAnti {
		if p.node == nil || p.node.node == nil {
			continue
		}
		for i := range p.requiredAntiAffinity {
			t := &p.requiredAntiAffinity[i]
			if !t.matches(st.pod, nsLabels) {
				continue
			}
			if v, ok := p.node.node.Labels[t.topologyKey]; ok {
				s.existingAnti.add(t.topologyKey, v, 1)
			}
		}
	}
	return s
}

func allTermsMatch(terms []affinityTerm, p *podInfo, nsLabels labels.Set) bool {
	for i := range terms {
		if !terms[i].matches(p.pod, nsLabels) {
			return false
		}
	}
	return true
}

// filterInterPodAffinity (InterPodAffinity) checks, in upstream's order:
// the pod's required affinity (a pod it selects must run in the node's
// domain of every term, unless no such pod exists anywhere and the pod
// selects itself), its required anti-affinity (no selected pod in the
// node's domain), and the required anti-affinity of pods already running.
func filterInterPodAffinity(st *cycleState, n *nodeInfo) verdict {
	s := st.affinity
	if s == nil {
		return verdict{}
	}
	labels := n.node.Labels
	if len(s.required) > 0 {
		podsExist := true
		for i := range s.required {
			key := s.required[i].topologyKey
			v, ok := labels[key]
			if !ok {
				return rejectAffinity
			}
			if s.affinity[key][v] <= 0 {
				podsExist = false
			}
		}
		if !podsExist && !(len(s.affinity) == 0 && s.selfMatch) {
			return rejectAffinity
		}
	}
	for i := range s.requiredAnti {
		key := s.requiredAnti[i].topologyKey
		if v, ok := labels[key]; ok && s.anti[key][v] > 0 {
			return rejectAntiAffinity
		}
	}
	for key, values := range s.existingAnti {
		if v, ok := labels[key]; ok && values[v] > 0 {
			return rejectExistingAntiAffinity
		}
	}
	return verdict{}
}

// hardPodAffinityWeight is what an existing pod's required affinity term
// that selects the incoming pod adds to the score of its domain (upstream's
// default InterPodAffinityArgs.hardPodAffinityWeight).
const hardPodAffinityWeight = 1

// unsafePrepareAffinityScore sums, per topology domain, the weights of
// preferred terms on both sides: the incoming pod's preferred (anti-)
// affinity over the pods it selects, and existing pods' terms that select
// the incoming pod. It returns nil when no term applies anywhere.
func (sc *schedCache) unsafePrepareAffinityScore(st *cycleState) topologyCounts {
	if len(st.preferredAffinity)+len(st.preferredAntiAffinity) == 0 && len(sc.withAffinity) == 0 {
		return nil
	}
	scores := topologyCounts{}
	weigh := func(terms []affinityTerm, sign int64) {
		for i := range terms {
			t := &terms[i]
			sc.unsafeCandidates(t.selector, t.namespaceList, func(p *podInfo) {
				if p.node == nil || p.node.node == nil || !t.matches(p.pod, nil) {
					return
				}
				if v, ok := p.node.node.Labels[t.topologyKey]; ok {
					scores.add(t.topologyKey, v, sign*t.weight)
				}
			})
		}
	}
	weigh(st.preferredAffinity, 1)
	weigh(st.preferredAntiAffinity, -1)
	nsLabels := st.namespaceLabels()
	existing := func(p *podInfo, terms []affinityTerm, weight func(*affinityTerm) int64) {
		for i := range terms {
			t := &terms[i]
			if !t.matches(st.pod, nsLabels) {
				continue
			}
			if v, ok := p.node.node.Labels[t.topologyKey]; ok {
				scores.add(t.topologyKey, v, weight(t))
			}
		}
	}
	for p := range sc.withAffinity {
		if p.node == nil || p.node.node == nil {
			continue
		}
		existing(p, p.requiredAffinity, func(*affinityTerm) int64 { return hardPodAffinityWeight })
		existing(p, p.preferredAffinity, func(t *affinityTerm) int64 { return t.weight })
		existing(p, p.preferredAntiAffinity, func(t *affinityTerm) int64 { return -t.weight })
	}
	if len(scores) == 0 {
		return nil
	}
	return scores
}

// scoreInterPodAffinity adds up the domain scores of the node's labels.
func scoreInterPodAffinity(st *cycleState, n *nodeInfo) int64 {
	var score int64
	for key, values := range st.affinityScore {
		if v, ok := n.node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score
}
