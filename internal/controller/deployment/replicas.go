package deployment

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/integer"
)

// specReplicas is a ReplicaSet's (or Deployment's) spec.replicas; the API
// server defaults a missing value to 1.
func specReplicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// resolveFenceposts turns maxSurge and maxUnavailable into pod counts for
// desired replicas. Percentages round surge up and unavailability down, so
// a rollout errs on the side of more capacity, never less.
//
// Example: desired=10, maxSurge=25%, maxUnavailable=25%:
// surge = ceil(2.5) = 3, unavailable = floor(2.5) = 2, so a rollout runs
// at most 13 pods and keeps at least 8 available.
// Example: desired=1 with the default 25%/25%: surge = ceil(0.25) = 1,
// unavailable = floor(0.25) = 0.
// If both come out 0 (desired=3, maxSurge=0, maxUnavailable=25% gives
// floor(0.75) = 0) unavailable becomes 1, or the rollout could never move.
func resolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (int32, int32, error) {
	zero := intstr.FromInt32(0)
	surge, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxSurge, zero), int(desired), true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxUnavailable, zero), int(desired), false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable), nil
}

// maxSurge is how many pods above spec.replicas a rolling update may run;
// 0 for Recreate. Validation rejects bad values, so errors read as 0.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil {
		return 0
	}
	s, _, _ := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, specReplicas(d.Spec.Replicas))
	return s
}

// maxUnavailable is how many of spec.replicas may be unavailable during a
// rolling update, never more than spec.replicas; 0 for Recreate.
func maxUnavailable(d *appsv1.Deployment) int32 {
	replicas := specReplicas(d.Spec.Replicas)
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil || replicas == 0 {
		return 0
	}
	_, u, _ := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, replicas)
	return min(u, replicas)
}

// replicaCount sums spec.replicas.
func replicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += specReplicas(rs.Spec.Replicas)
		}
	}
	return n
}

// actualReplicaCount sums status.replicas (active pods).
func actualReplicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.Replicas
		}
	}
	return n
}

func readyReplicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.ReadyReplicas
		}
	}
	return n
}

func availableReplicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.AvailableReplicas
		}
	}
	return n
}

// terminatingReplicaCount sums status.terminatingReplicas; nil when some
// ReplicaSet that has been synced does not report it (as upstream: the
// sum would be a guess).
func terminatingReplicaCount(rss []*appsv1.ReplicaSet) *int32 {
	var n int32
	for _, rs := range rss {
		if rs == nil {
			continue
		}
		if rs.Status.TerminatingReplicas == nil {
			if rs.Status.ObservedGeneration == 0 {
				continue // never synced yet
			}
			return nil
		}
		n += *rs.Status.TerminatingReplicas
	}
	return &n
}

// podsUpperBound bounds the pods rs runs right now: spec.replicas, or
// status.replicas while a scale-down is still deleting (the ReplicaSet
// controller lowers status.replicas only once it has seen the pods go).
// Upstream counts spec alone, so a new pod may briefly coexist with the
// old pod it replaces; counting both keeps maxSurge a true ceiling.
func podsUpperBound(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += max(specReplicas(rs.Spec.Replicas), rs.Status.Replicas)
		}
	}
	return n
}

// availableLowerBound is how many of rs's available pods survive once it
// has reached spec.replicas: a ReplicaSet deletes its unavailable pods
// first, so min(spec, available). A status written before a scale-down
// was carried out would otherwise overstate availability.
func availableLowerBound(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return min(specReplicas(rs.Spec.Replicas), rs.Status.AvailableReplicas)
}

func availableLowerBoundSum(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += availableLowerBound(rs)
	}
	return n
}

// newRSNewReplicas is the size the new ReplicaSet may grow to now.
//
// Example (RollingUpdate): replicas=10, maxSurge=3, the old ReplicaSet at
// 8 and the new one at 2: at most 13 pods, 10 counted, so the new one may
// grow by 3 but not past 10 replicas: min(2+3, 10) = 5.
func newRSNewReplicas(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	replicas := specReplicas(d.Spec.Replicas)
	switch d.Spec.Strategy.Type {
	case appsv1.RollingUpdateDeploymentStrategyType:
		maxTotal := replicas + maxSurge(d)
		current := podsUpperBound(allRSs)
		newSpec := specReplicas(newRS.Spec.Replicas)
		if current >= maxTotal {
			return newSpec, nil
		}
		return newSpec + min(maxTotal-current, replicas-newSpec), nil
	case appsv1.RecreateDeploymentStrategyType:
		return replicas, nil
	default:
		return 0, fmt.Errorf("deployment strategy %q is not supported", d.Spec.Strategy.Type)
	}
}

// filterActive keeps the ReplicaSets that want pods.
func filterActive(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && specReplicas(rs.Spec.Replicas) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// olderFirst orders by creation time, then name.
func olderFirst(a, b *appsv1.ReplicaSet) bool {
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

func sortOldestFirst(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool { return olderFirst(rss[i], rss[j]) })
}

// sortForScaling orders the largest first; among equals, newer first when
// scaling up and older first when scaling down, as upstream.
func sortForScaling(rss []*appsv1.ReplicaSet, up bool) {
	sort.SliceStable(rss, func(i, j int) bool {
		si, sj := specReplicas(rss[i].Spec.Replicas), specReplicas(rss[j].Spec.Replicas)
		if si != sj {
			return si > sj
		}
		if up {
			return olderFirst(rss[j], rss[i])
		}
		return olderFirst(rss[i], rss[j])
	})
}

// findActiveOrLatest returns the single active ReplicaSet, or the newest
// one when none is active; nil when several are active (then they are
// scaled proportionally).
func findActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	olds := append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sort.SliceStable(olds, func(i, j int) bool { return olderFirst(olds[j], olds[i]) })
	active := filterActive(append(olds, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return olds[0]
	case 1:
		return active[0]
	}
	return nil
}

// isSaturated: the new ReplicaSet alone runs the whole Deployment.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	replicas := specReplicas(d.Spec.Replicas)
	return ok && specReplicas(rs.Spec.Replicas) == replicas && desired == replicas && rs.Status.AvailableReplicas == replicas
}

// proportionalSizes spreads a change of the Deployment's size over its
// active ReplicaSets in proportion to their sizes, so a scale during a
// rollout keeps the old:new ratio. It returns the new size of each, in
// the order they should be written.
//
// Example: replicas 10 -> 15 mid-rollout with maxSurge=3, the old
// ReplicaSet at 8 and the new at 5 (both annotated max-replicas=13): the
// allowed total becomes 15+4 = 19 (maxSurge 25% of 15 rounds up to 4), so
// 6 pods are added: old 8*19/13 = 11.7 -> 12 (+4), new 5*19/13 = 7.3 -> 7
// (+2): 12 + 7 = 19.
func proportionalSizes(d *appsv1.Deployment, active []*appsv1.ReplicaSet) ([]*appsv1.ReplicaSet, map[string]int32) {
	rss := append([]*appsv1.ReplicaSet(nil), active...)
	replicas := specReplicas(d.Spec.Replicas)
	allowed := int32(0)
	if replicas > 0 {
		allowed = replicas + maxSurge(d)
	}
	toAdd := allowed - replicaCount(rss)
	if toAdd != 0 {
		sortForScaling(rss, toAdd > 0)
	}
	sizes := make(map[string]int32, len(rss))
	added := int32(0)
	for _, rs := range rss {
		sizes[rs.Name] = specReplicas(rs.Spec.Replicas)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[rs.Name] += p
			added += p
		}
	}
	// Rounding leftovers go to the largest ReplicaSet.
	if toAdd != 0 && len(rss) > 0 {
		sizes[rss[0].Name] = max(sizes[rss[0].Name]+toAdd-added, 0)
	}
	return rss, sizes
}

// proportion is rs's share of toAdd, never more (in absolute value) than
// what is still left to add.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || specReplicas(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	f := fraction(rs, d)
	left := toAdd - added
	if toAdd > 0 {
		return min(f, left)
	}
	return max(f, left)
}

// fraction estimates rs's new size from the Deployment's maximum size
// before (the max-replicas annotation) and after the scale.
func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	size := specReplicas(rs.Spec.Replicas)
	replicas := specReplicas(d.Spec.Replicas)
	if replicas == 0 {
		return -size
	}
	maxAfter := replicas + maxSurge(d)
	maxBefore, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || maxBefore == 0 {
		// Annotation lost (edited by hand): fall back to the current size.
		maxBefore = d.Status.Replicas
		if maxBefore == 0 {
			return 0
		}
	}
	return integer.RoundToInt32(float64(size)*float64(maxAfter)/float64(maxBefore)) - size
}
