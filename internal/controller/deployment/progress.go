package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// syncRolloutStatus writes the rollout's status (with the Progressing
// condition) when it changed. When nothing changed, no event will bring
// the Deployment back, so it is requeued for when its progress deadline
// would pass.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	now := c.clock.Now()
	st := rolloutStatus(d, allRSs, newRS, now)
	if equality.Semantic.DeepEqual(d.Status, st) {
		if after, ok := progressRecheck(d, st, now); ok {
			c.queue.AddAfter(d.Namespace+"/"+d.Name, after)
		}
		return nil
	}
	d.Status = st
	return c.writeStatus(ctx, d)
}
