package statefulset

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/internal/controller/history"
)

// ReasonInvalidSelector is recorded for a set whose selector cannot be
// parsed (validation prevents it; Skiff's own, upstream only logs).
const ReasonInvalidSelector = "InvalidSelector"

// sync makes one pass over a StatefulSet: resolve its revisions, take one
// ordered step with its pods, record status, trim history. The writes'
// own informer events bring the key back for the next step.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key can never succeed
	}
	set, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading stateful set %s: %w", key, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		// Permanent until the user edits the set; retrying cannot help.
		c.recorder.Eventf(set, corev1.EventTypeWarning, ReasonInvalidSelector, "Invalid selector: %v", err)
		return nil
	}
	// Creates and deletes not yet seen in the cache would make this pass
	// act on stale pods (create an ordinal twice, skip a readiness wait);
	// their events requeue the set.
	if !c.expectations.Satisfied(key) {
		return nil
	}
	revs, err := c.history.Claim(ctx, set, controllerKind, selector, c.canAdopt(set))
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	return c.syncSet(ctx, set, pods, revs)
}

func (c *Controller) syncSet(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision) error {
	history.Sort(revs)
	rv, err := c.resolveRevisions(ctx, set, revs)
	if err != nil {
		return fmt.Errorf("resolving revisions of stateful set %s: %w", keyOf(set), err)
	}
	now := c.clock.Now()
	err = reconcile(ctx, c, rv, pods, now)
	st, requeue := computeStatus(set, pods, rv.currentRevision, rv.updateRevision, rv.collisionCount, now)
	if requeue > 0 {
		// A ready pod turns available with no event; come back then,
		// with a second of slack to land after the boundary.
		c.queue.AddAfter(keyOf(set), requeue+time.Second)
	}
	return errors.Join(err, c.writeStatus(ctx, set, &st), c.truncateHistory(ctx, set, pods, revs, rv))
}
