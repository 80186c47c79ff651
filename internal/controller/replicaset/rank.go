package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// podDeletionCostAnnotation lets users say which pods to delete first
// (lower cost first), as upstream honours it.
const podDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// rankedPods orders pods from "delete first" to "delete last" the way
// upstream's ActivePodsWithRanks does. rank[i] is the number of active
// pods of the same workload on pods[i]'s node: spreading is preserved by
// deleting from crowded nodes first.
type rankedPods struct {
	pods []*corev1.Pod
	rank []int
	now  time.Time
}

func (s rankedPods) Len() int { return len(s.pods) }

func (s rankedPods) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.rank[i], s.rank[j] = s.rank[j], s.rank[i]
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// Less reports whether pods[i] should be deleted before pods[j]:
//  1. unassigned < assigned
//  2. Pending < Unknown < Running
//  3. not ready < ready
//  4. lower pod-deletion-cost < higher
//  5. more pods of the workload on the same node < fewer
//  6. ready more recently < ready longer (in log2 buckets of age)
//  7. more container restarts < fewer
//  8. created more recently < created earlier (in log2 buckets of age)
func (s rankedPods) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if a.Status.Phase != b.Status.Phase {
		return phaseOrder[a.Status.Phase] < phaseOrder[b.Status.Phase]
	}
	aReady, bReady := isPodReady(a), isPodReady(b)
	if aReady != bReady {
		return !aReady
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if s.rank[i] != s.rank[j] {
		return s.rank[i] > s.rank[j]
	}
	if aReady && bReady {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			return s.newerFirst(a, b, ta, tb)
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra.greater(rb)
	}
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return s.newerFirst(a, b, ta, tb)
	}
	return false
}

// newerFirst compares two timestamps by log2 of their age, so pods that
// came up at about the same time count as equally old and the pod UID
// (effectively random) breaks the tie: scaling down then takes pods of
// every age bucket evenly instead of always the very newest ones.
//
// Example: with now=100s, ages 10s and 12s both fall in bucket
// floor(log2(age in ns)) = 33, so the UIDs decide; ages 10s and 40s fall
// in buckets 33 and 35, so the 10s-old pod goes first.
func (s rankedPods) newerFirst(a, b *corev1.Pod, ta, tb time.Time) bool {
	if s.now.IsZero() || ta.IsZero() || tb.IsZero() {
		return afterOrZero(ta, tb)
	}
	d := logBucket(s.now.Sub(ta)) - logBucket(s.now.Sub(tb))
	if d == 0 {
		return a.UID < b.UID
	}
	return d < 0
}

func logBucket(age time.Duration) int {
	if age <= 0 {
		return -1
	}
	return int(math.Log2(float64(age)))
}

// afterOrZero: a zero time sorts first; otherwise the later time does.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

func readySince(p *corev1.Pod) time.Time {
	if c := readyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// deletionCost parses the annotation; a missing or invalid value is 0.
func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[podDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// restarts is a pod's highest restart count of regular containers, then of
// restartable init containers (sidecars), compared in that order.
type restarts struct{ regular, sidecar int32 }

func (r restarts) greater(o restarts) bool {
	if r.regular != o.regular {
		return r.regular > o.regular
	}
	return r.sidecar > o.sidecar
}

func maxRestarts(p *corev1.Pod) restarts {
	var r restarts
	for _, c := range p.Status.ContainerStatuses {
		r.regular = max(r.regular, c.RestartCount)
	}
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	for _, c := range p.Status.InitContainerStatuses {
		if sidecars[c.Name] {
			r.sidecar = max(r.sidecar, c.RestartCount)
		}
	}
	return r
}

// podsToDelete picks n of pods to delete, ranking them against related
// (the pods of every workload sharing this one's controller, this one
// included) to find crowded nodes. pods is not modified.
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return append([]*corev1.Pod(nil), pods...)
	}
	onNode := map[string]int{}
	for _, p := range related {
		if isPodActive(p) && p.Spec.NodeName != "" {
			onNode[p.Spec.NodeName]++
		}
	}
	s := rankedPods{pods: append([]*corev1.Pod(nil), pods...), rank: make([]int, len(pods)), now: now}
	for i, p := range s.pods {
		s.rank[i] = onNode[p.Spec.NodeName]
	}
	sort.Sort(s)
	return s.pods[:n]
}
