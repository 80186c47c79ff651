package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling takes one RollingUpdate step: scale the new ReplicaSet up
// within maxSurge, or else scale old ones down within maxUnavailable, or
// else (done) clean up history. Each write's event brings the Deployment
// back for the next step.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.replicaSetsAndRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	allRSs := withNew(oldRSs, newRS)
	if scaled, err := c.reconcileNewReplicaSet(ctx, d, allRSs, newRS); err != nil {
		return err
	} else if scaled {
		return c.syncRolloutStatus(ctx, d, allRSs, newRS)
	}
	if scaled, err := c.reconcileOldReplicaSets(ctx, d, allRSs, filterActive(oldRSs), newRS); err != nil {
		return err
	} else if scaled {
		return c.syncRolloutStatus(ctx, d, allRSs, newRS)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupDeployment(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, allRSs, newRS)
}

func (c *Controller) reconcileNewReplicaSet(ctx context.Context, d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	replicas := specReplicas(d.Spec.Replicas)
	cur := specReplicas(newRS.Spec.Replicas)
	if cur == replicas {
		return false, nil
	}
	if cur > replicas {
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, replicas, d)
		return scaled, err
	}
	size, err := newRSNewReplicas(d, allRSs, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, size, d)
	return scaled, err
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as
// availability allows: first their unhealthy pods (removing those costs
// no availability), then healthy ones while more than
// replicas-maxUnavailable pods stay available.
//
// Example: replicas=10, maxUnavailable=2 (minAvailable 8), maxSurge=3.
// Old at 10 (all available), new just scaled to 3 with none available:
// maxScaledDown = 13 total - 8 minAvailable - 3 unavailable new = 2, so
// 2 old pods go even before a new pod is ready. Once 3 new pods are
// available, 11 are available and old may shrink by 11-8 = 3 more.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, d *appsv1.Deployment, allRSs, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if replicaCount(oldRSs) == 0 {
		return false, nil
	}
	minAvailable := specReplicas(d.Spec.Replicas) - maxUnavailable(d)
	newUnavailable := specReplicas(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	maxScaledDown := replicaCount(allRSs) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	oldRSs, cleaned, err := c.cleanupUnhealthyReplicas(ctx, d, oldRSs, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaledDown, err := c.scaleDownOldForRollingUpdate(ctx, d, withNew(oldRSs, newRS), oldRSs)
	if err != nil {
		return false, err
	}
	return cleaned+scaledDown > 0, nil
}

// cleanupUnhealthyReplicas removes up to maxCleanup unavailable pods from
// old ReplicaSets, oldest first; the ReplicaSet controller deletes
// not-ready pods before ready ones.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	oldRSs = append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sortOldestFirst(oldRSs)
	var total int32
	for i, rs := range oldRSs {
		if total >= maxCleanup {
			break
		}
		size := specReplicas(rs.Spec.Replicas)
		unhealthy := size - availableLowerBound(rs)
		if size == 0 || unhealthy == 0 {
			continue
		}
		n := min(maxCleanup-total, unhealthy)
		_, updated, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, size-n, d)
		if err != nil {
			return nil, total, err
		}
		total += n
		oldRSs[i] = updated
	}
	return oldRSs, total, nil
}

// scaleDownOldForRollingUpdate removes available old pods while more than
// minAvailable would remain.
func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, d *appsv1.Deployment, allRSs, oldRSs []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := specReplicas(d.Spec.Replicas) - maxUnavailable(d)
	available := availableLowerBoundSum(allRSs)
	if available <= minAvailable {
		return 0, nil
	}
	oldRSs = append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sortOldestFirst(oldRSs)
	want := available - minAvailable
	var total int32
	for _, rs := range oldRSs {
		if total >= want {
			break
		}
		size := specReplicas(rs.Spec.Replicas)
		if size == 0 {
			continue
		}
		n := min(size, want-total)
		if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, size-n, d); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
