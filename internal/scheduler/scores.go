package scheduler

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// Scores are computed per feasible node into a slice, normalized to
// 0..maxNodeScore per plugin, then weighted and summed, as upstream's
// framework does. Each scorer here is the raw (pre-normalization) score.

// scoreLeastAllocated (NodeResourcesFit, LeastAllocated strategy, cpu and
// memory weighted 1 each) prefers nodes with more room left, counting
// containers without requests at the scoring defaults.
//
// Worked example: 4000m allocatable, 1000m requested on the node, pod asks
// 1000m: (4000-2000)*100/4000 = 50; memory 8Gi with 2Gi+2Gi: 50; score
// (50+50)/2 = 50.
func scoreLeastAllocated(st *cycleState, n *nodeInfo) int64 {
	var sum, weights int64
	if c := n.allocatable.milliCPU; c > 0 {
		sum += leastRequested(n.nonZeroCPU+st.pi.nonZeroCPU, c)
		weights++
	}
	if c := n.allocatable.memory; c > 0 {
		sum += leastRequested(n.nonZeroMem+st.pi.nonZeroMem, c)
		weights++
	}
	if weights == 0 {
		return 0
	}
	return sum / weights
}

func leastRequested(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * maxNodeScore / capacity
}

// scoreBalancedAllocation (NodeResourcesBalancedAllocation) prefers nodes
// whose cpu and memory would be used in equal fractions: score =
// (1 - std) * 100, and for two resources std = |f_cpu - f_mem| / 2. It uses
// actual requests (no scoring defaults) and upstream skips it for pods that
// request nothing, which the caller does.
//
// Worked example: after placing the pod the node is at 50% cpu and 30%
// memory: std = 0.1, score 90.
func scoreBalancedAllocation(st *cycleState, n *nodeInfo) int64 {
	var fractions [2]float64
	k := 0
	if c := n.allocatable.milliCPU; c > 0 {
		fractions[k] = math.Min(float64(n.requested.milliCPU+st.pi.req.milliCPU)/float64(c), 1)
		k++
	}
	if c := n.allocatable.memory; c > 0 {
		fractions[k] = math.Min(float64(n.requested.memory+st.pi.req.memory)/float64(c), 1)
		k++
	}
	std := 0.0
	if k == 2 {
		std = math.Abs(fractions[0]-fractions[1]) / 2
	}
	return int64((1 - std) * float64(maxNodeScore))
}

// scoreTaintToleration (TaintToleration) counts PreferNoSchedule taints the
// pod does not tolerate; normalized in reverse, fewer is better.
func scoreTaintToleration(st *cycleState, n *nodeInfo) int64 {
	var count int64
	for i := range n.preferTaints {
		if !tolerates(st.preferTolerations, &n.preferTaints[i]) {
			count++
		}
	}
	return count
}

// scoreNodeAffinity (NodeAffinity) sums the weights of the pod's preferred
// node affinity terms the node matches.
func scoreNodeAffinity(st *cycleState, n *nodeInfo) int64 {
	return st.preferredNodeAffinity.Score(n.node)
}

// normalizeDefault scales scores to 0..maxNodeScore by the highest one
// (upstream's DefaultNormalizeScore); reverse turns "more is worse" counts
// into scores. When every score is 0, reverse gives every node the maximum.
//
// Worked example: raw [2, 1, 0] -> [100, 50, 0]; reversed [0, 50, 100].
func normalizeDefault(scores []int64, reverse bool) {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s)
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i] = maxNodeScore
			}
		}
		return
	}
	for i, s := range scores {
		s = maxNodeScore * s / highest
		if reverse {
			s = maxNodeScore - s
		}
		scores[i] = s
	}
}

// normalizeMinMax maps the lowest score to 0 and the highest to
// maxNodeScore (InterPodAffinity's normalization, where raw scores may be
// negative). Equal scores all become 0.
//
// Worked example: raw [-5, 0, 5] -> [0, 50, 100].
func normalizeMinMax(scores []int64) {
	lowest, highest := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		lowest, highest = min(lowest, s), max(highest, s)
	}
	diff := highest - lowest
	for i, s := range scores {
		f := 0.0
		if diff > 0 {
			f = float64(maxNodeScore) * float64(s-lowest) / float64(diff)
		}
		scores[i] = int64(f)
	}
}

// preferNoScheduleTolerations keeps the tolerations that can tolerate a
// PreferNoSchedule taint: those with that effect or with none (all effects).
func preferNoScheduleTolerations(ts []corev1.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			out = append(out, t)
		}
	}
	return out
}
