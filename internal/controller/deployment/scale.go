package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// scale resizes the ReplicaSets after spec.replicas changed (or while
// paused): the only active one takes the whole size; with several, a
// saturated new one takes it all, otherwise a rolling Deployment spreads
// the change proportionally.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	replicas := specReplicas(d.Spec.Replicas)
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		if specReplicas(rs.Spec.Replicas) == replicas {
			return nil
		}
		_, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, replicas, d)
		return err
	}
	// The new ReplicaSet already runs everything (e.g. it adopted pods):
	// the old ones go.
	if isSaturated(d, newRS) {
		for _, old := range filterActive(oldRSs) {
			if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	ordered, sizes := proportionalSizes(d, filterActive(withNew(oldRSs, newRS)))
	for _, rs := range ordered {
		op := "down"
		if sizes[rs.Name] > specReplicas(rs.Spec.Replicas) {
			op = "up"
		}
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[rs.Name], d, op); err != nil {
			return err // the Deployment is requeued and carries on from here
		}
	}
	return nil
}

// scaleReplicaSetAndRecordEvent sets rs to size; it reports whether the
// size changed.
func (c *Controller) scaleReplicaSetAndRecordEvent(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	cur := specReplicas(rs.Spec.Replicas)
	if cur == size {
		return false, rs, nil
	}
	op := "down"
	if cur < size {
		op = "up"
	}
	return c.scaleReplicaSet(ctx, rs, size, d, op)
}

// scaleReplicaSet writes rs's size and the Deployment's replica
// annotations, with the upstream event "Scaled up replica set X from A
// to B".
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment, op string) (bool, *appsv1.ReplicaSet, error) {
	replicas := specReplicas(d.Spec.Replicas)
	maxReplicas := replicas + maxSurge(d)
	cur := specReplicas(rs.Spec.Replicas)
	sizeChanged := cur != size
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, replicas, maxReplicas) {
		return false, rs, nil
	}
	rsCopy := rs.DeepCopy()
	rsCopy.Spec.Replicas = ptr.To(size)
	setReplicasAnnotations(rsCopy, replicas, maxReplicas)
	out, err := c.client.AppsV1().ReplicaSets(rsCopy.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scaling ReplicaSet %s/%s to %d: %w", rs.Namespace, rs.Name, size, err)
	}
	if sizeChanged {
		c.recorder.Eventf(d, corev1.EventTypeNormal, ReasonScalingReplicaSet, "Scaled %s replica set %s from %d to %d", op, out.Name, cur, size)
	}
	return sizeChanged, out, nil
}
