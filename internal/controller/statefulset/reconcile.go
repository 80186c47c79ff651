package statefulset

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// podActions are the writes a sync makes. The controller implements them
// against the API; tests record them to check ordering.
type podActions interface {
	// createPod creates pod's missing claims, then pod, then gives the
	// claims the owners the retention policy wants.
	createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
	deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
	// repair restores pod's identity labels, creates its missing claims
	// and fixes their owner references.
	repair(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
	// claimState reports whether some of pod's claims are missing and
	// whether existing ones have owners the policy does not want.
	claimState(set *appsv1.StatefulSet, pod *corev1.Pod) (missing, wrongOwners bool)
	// claimStale reports whether a claim of pod's ordinal still belongs to
	// the ordinal's previous pod and is about to be garbage collected.
	claimStale(set *appsv1.StatefulSet, pod *corev1.Pod) bool
}

// countingActions counts the pod creates and deletes of a pass.
type countingActions struct {
	podActions
	writes atomic.Int32
}

func (a *countingActions) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	a.writes.Add(1)
	return a.podActions.createPod(ctx, set, pod)
}

func (a *countingActions) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	a.writes.Add(1)
	return a.podActions.deletePod(ctx, set, pod)
}

// slots splits pods into the ordinals set wants (index i is ordinal
// start+i, nil where missing) and condemned pods beyond the range, highest
// ordinal first. Pods with no parsable ordinal are not the set's: ignored.
func slots(set *appsv1.StatefulSet, pods []*corev1.Pod) (replicas, condemned []*corev1.Pod) {
	start := startOrdinal(set)
	replicas = make([]*corev1.Pod, replicasOf(set))
	for _, pod := range pods {
		ord := ordinalOf(pod)
		switch {
		case inRange(set, ord):
			replicas[ord-start] = pod
		case ord >= 0:
			condemned = append(condemned, pod)
		}
	}
	slices.SortFunc(condemned, func(a, b *corev1.Pod) int { return ordinalOf(b) - ordinalOf(a) })
	return replicas, condemned
}

// firstUnhealthy is the pod ordered scale-down may still delete while it
// is unhealthy: the lowest unhealthy replica, else the lowest unhealthy
// condemned pod. Any other unhealthy pod blocks scale-down.
func firstUnhealthy(replicas, condemned []*corev1.Pod) *corev1.Pod {
	for _, p := range replicas {
		if !isHealthy(p) {
			return p
		}
	}
	for i := len(condemned) - 1; i >= 0; i-- {
		if !isHealthy(condemned[i]) {
			return condemned[i]
		}
	}
	return nil
}

// reconcile makes one pass over set's pods. With OrderedReady ("monotonic")
// it stops at the first pod that is missing, not running and ready, or
// terminating, so pods are created one at a time in ordinal order and
// deleted one at a time in reverse order. With Parallel it acts on every
// pod at once. Then, with RollingUpdate, it deletes the next pods to
// update; they are recreated at the update revision by a later pass.
func reconcile(ctx context.Context, podActs podActions, rv *revisionView, pods []*corev1.Pod, now time.Time) error {
	set := rv.set
	acts := &countingActions{podActions: podActs}
	replicas, condemned := slots(set, pods)
	for i := range replicas {
		if replicas[i] == nil {
			replicas[i] = newVersionedPod(rv, startOrdinal(set)+i)
		}
	}
	if set.DeletionTimestamp != nil {
		return nil
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	if stop, err := runForAll(replicas, monotonic, func(p *corev1.Pod) (bool, error) {
		return processReplica(ctx, acts, rv, p, monotonic, now)
	}); stop || err != nil {
		return err
	}
	// Condemned pods' claims get their scale-down owners before the pods
	// go, so whenScaled=Delete claims are collected with their pod.
	if stop, err := runForAll(condemned, monotonic, func(p *corev1.Pod) (bool, error) {
		if _, wrong := acts.claimState(rv.updateSet, p); wrong {
			if err := acts.repair(ctx, rv.updateSet, p); err != nil {
				return true, err
			}
		}
		return false, nil
	}); stop || err != nil {
		return err
	}
	unhealthy := firstUnhealthy(replicas, condemned)
	if stop, err := runForAll(condemned, monotonic, func(p *corev1.Pod) (bool, error) {
		return processCondemned(ctx, acts, set, p, unhealthy, monotonic, now)
	}); stop || err != nil {
		return err
	}
	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return nil // OnDelete: pods are updated when the user deletes them
	}
	if acts.writes.Load() > 0 {
		// Parallel mode got here after creating or deleting pods: the
		// snapshot is stale (a pod deleted above could be picked again),
		// and those writes' events bring the set back.
		return nil
	}
	targets, err := rollingUpdateTargets(set, replicas, rv.updateRevision, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range targets {
		klog.FromContext(ctx).V(2).Info("Deleting pod for update", "statefulset", klog.KObj(set), "pod", klog.KObj(p))
		errs = append(errs, acts.deletePod(ctx, set, p))
	}
	return errors.Join(errs...)
}

// processReplica moves one wanted ordinal towards running the right pod.
// stop means "do not look at higher ordinals in this pass" and only
// matters in monotonic mode.
func processReplica(ctx context.Context, acts podActions, rv *revisionView, pod *corev1.Pod, monotonic bool, now time.Time) (stop bool, err error) {
	set := rv.set
	if isTerminal(pod) {
		// A replica that exited is replaced: delete it now and create it
		// again once it is gone.
		if !isTerminating(pod) {
			return true, acts.deletePod(ctx, set, pod)
		}
		return true, nil
	}
	if !isCreated(pod) {
		if acts.claimStale(set, pod) {
			return true, nil // wait for the collector to remove the claim
		}
		if err := acts.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		return monotonic, nil
	}
	if isPending(pod) {
		if missing, wrong := acts.claimState(rv.updateSet, pod); missing || wrong {
			if err := acts.repair(ctx, rv.updateSet, pod); err != nil {
				return true, err
			}
		}
	}
	if monotonic && (isTerminating(pod) || !isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	_, wrong := acts.claimState(rv.updateSet, pod)
	if identityMatches(set, pod) && storageMatches(set, pod) && !wrong {
		return false, nil
	}
	return false, acts.repair(ctx, rv.updateSet, pod)
}

// processCondemned deletes a pod beyond the wanted range. In monotonic
// mode only one goes per pass, and only when every other pod is healthy
// (the lowest unhealthy pod may itself be deleted, or scale-down could
// never get past it).
func processCondemned(ctx context.Context, acts podActions, set *appsv1.StatefulSet, pod, unhealthy *corev1.Pod, monotonic bool, now time.Time) (bool, error) {
	if isTerminating(pod) {
		return monotonic, nil
	}
	if monotonic && pod != unhealthy && (!isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	klog.FromContext(ctx).V(2).Info("Deleting pod for scale down", "statefulset", klog.KObj(set), "pod", klog.KObj(pod))
	return true, acts.deletePod(ctx, set, pod)
}

// runForAll applies fn to pods: in order, stopping at the first stop or
// error, when monotonic; otherwise all at once in slow-start batches.
func runForAll(pods []*corev1.Pod, monotonic bool, fn func(*corev1.Pod) (bool, error)) (bool, error) {
	if monotonic {
		for _, p := range pods {
			if stop, err := fn(p); stop || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	var next atomic.Int32
	var mu sync.Mutex
	var errs []error
	_, err := podcontrol.SlowStartBatch(len(pods), podcontrol.SlowStartInitialBatchSize, func() error {
		_, err := fn(pods[next.Add(1)-1])
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return true, errors.Join(errs...)
	}
	return false, nil
}
