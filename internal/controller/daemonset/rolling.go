package daemonset

import (
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// rollingLimits are a rolling update's budgets for one sync.
type rollingLimits struct {
	maxSurge, maxUnavailable, desired int
}

// computeRollingLimits scales maxSurge and maxUnavailable against the
// number of nodes that should run ds. A configuration that allows neither
// (the API forbids it, but percentages can round to it) falls back to one
// unavailable pod, as upstream does, so an update can always progress.
func computeRollingLimits(ds *appsv1.DaemonSet, shouldRun map[string]bool) (rollingLimits, error) {
	var l rollingLimits
	for _, run := range shouldRun {
		if run {
			l.desired++
		}
	}
	var err error
	if l.maxUnavailable, err = unavailableCount(ds, l.desired); err != nil {
		return l, fmt.Errorf("invalid maxUnavailable: %w", err)
	}
	if l.maxSurge, err = surgeCount(ds, l.desired); err != nil {
		return l, fmt.Errorf("invalid maxSurge: %w", err)
	}
	if l.desired > 0 && l.maxUnavailable == 0 && l.maxSurge == 0 {
		l.maxUnavailable = 1
	}
	return l, nil
}

// splitNodePods finds the one new and one old live pod on a node; ok is
// false when there are more of either, which the manage step prunes first.
func splitNodePods(pods []*corev1.Pod, hash string, gen *int64) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isPodUpdated(pod, hash, gen) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// sortedNodes returns the node names of nodeToPods plus every node that
// should run ds, in name order so that which old pods go first is stable.
func sortedNodes(nodeToPods map[string][]*corev1.Pod, shouldRun map[string]bool) []string {
	names := make([]string, 0, len(nodeToPods)+len(shouldRun))
	for n := range nodeToPods {
		names = append(names, n)
	}
	for n, run := range shouldRun {
		if _, seen := nodeToPods[n]; run && !seen {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// planRollingUpdate picks the next step of a rolling update. Without
// surge it deletes old pods, keeping at most maxUnavailable nodes without
// an available pod; the manage step then creates their replacements.
// With surge it creates new pods beside old ones (at most maxSurge not yet
// available) and deletes old pods whose replacement is available.
//
// Example without surge, 5 nodes, maxUnavailable=2, one new pod still
// starting: 1 node is unavailable, so 1 more old pod is deleted now.
func planRollingUpdate(ds *appsv1.DaemonSet, nodeToPods map[string][]*corev1.Pod, shouldRun map[string]bool, hash string, now time.Time) (remove []*corev1.Pod, createOn []string, err error) {
	limits, err := computeRollingLimits(ds, shouldRun)
	if err != nil {
		return nil, nil, err
	}
	if limits.maxSurge == 0 {
		return planWithoutSurge(ds, nodeToPods, shouldRun, limits, hash, now), nil, nil
	}
	remove, createOn = planWithSurge(ds, nodeToPods, shouldRun, limits, hash, now)
	return remove, createOn, nil
}

func planWithoutSurge(ds *appsv1.DaemonSet, nodeToPods map[string][]*corev1.Pod, shouldRun map[string]bool, l rollingLimits, hash string, now time.Time) []*corev1.Pod {
	gen := templateGeneration(ds)
	minReady := ds.Spec.MinReadySeconds
	unavailable := 0
	var replace, candidates []*corev1.Pod
	for _, node := range sortedNodes(nodeToPods, shouldRun) {
		newPod, oldPod, ok := splitNodePods(nodeToPods[node], hash, gen)
		switch {
		case !ok, oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
			// The manage step still has to create or prune here.
			unavailable++
		case newPod != nil:
			if !isPodAvailable(newPod, minReady, now) {
				unavailable++
			}
		case !isPodAvailable(oldPod, minReady, now):
			// Replacing a pod that serves nothing costs no availability.
			replace = append(replace, oldPod)
			unavailable++
		case unavailable < l.maxUnavailable:
			candidates = append(candidates, oldPod)
		}
	}
	budget := min(max(l.maxUnavailable-unavailable, 0), len(candidates))
	return append(replace, candidates[:budget]...)
}

func planWithSurge(ds *appsv1.DaemonSet, nodeToPods map[string][]*corev1.Pod, shouldRun map[string]bool, l rollingLimits, hash string, now time.Time) (remove []*corev1.Pod, createOn []string) {
	gen := templateGeneration(ds)
	minReady := ds.Spec.MinReadySeconds
	var leaving []*corev1.Pod // available old pods on nodes that no longer qualify
	var allowed, candidates []string
	surging, available := 0, 0
	for _, node := range sortedNodes(nodeToPods, shouldRun) {
		newPod, oldPod, ok := splitNodePods(nodeToPods[node], hash, gen)
		if !ok {
			surging++
			continue
		}
		if p := oldPod; p != nil || newPod != nil {
			if p == nil {
				p = newPod
			}
			if isPodAvailable(p, minReady, now) {
				available++
			}
		}
		switch {
		case oldPod == nil:
			// Nothing to replace; the manage step covers empty nodes.
		case newPod == nil && !isPodAvailable(oldPod, minReady, now):
			if shouldRun[node] {
				allowed = append(allowed, node)
			} else {
				remove = append(remove, oldPod)
			}
		case newPod == nil:
			if !shouldRun[node] {
				leaving = append(leaving, oldPod)
			} else if surging < l.maxSurge {
				candidates = append(candidates, node)
			}
		case !isPodAvailable(newPod, minReady, now):
			surging++
		default:
			remove = append(remove, oldPod)
		}
	}
	// Surging promises full availability: pods on nodes that stopped
	// qualifying go only while more pods are available than desired.
	if extra := min(available-l.desired, len(leaving)); extra > 0 {
		remove = append(remove, leaving[:extra]...)
	}
	budget := min(max(l.maxSurge-surging, 0), len(candidates))
	return remove, append(allowed, candidates[:budget]...)
}
