package disruption

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// sync recomputes one budget's status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		// A conflict means a newer budget (often the eviction handler's
		// decrement) is on its way to the cache and will bring it back.
		return err
	}
	klog.FromContext(ctx).V(2).Info("Failed to sync PodDisruptionBudget", "pdb", klog.KObj(pdb), "err", err)
	// Fail safe: whatever went wrong, no eviction may rely on this budget.
	st := failSafeStatus(pdb, err, c.clock.Now())
	if werr := c.writeStatus(ctx, pdb, st); werr != nil {
		return fmt.Errorf("%w (and writing the fail-safe status: %v)", err, werr)
	}
	return err
}

func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	pods, err := c.podsFor(pdb)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, ReasonNoPods, "No matching pods found")
	}
	lookup := func(ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
		return c.scales.lookup(ctx, ref, ns)
	}
	expected, desired, unmanaged, err := expectedCounts(pdb, pods, lookup)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, ReasonCalculateExpectedPodCountFailed,
			"Failed to calculate the number of expected pods: %v", err)
		return err
	}
	if len(unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, ReasonUnmanagedPods,
			"Pods selected by this PodDisruptionBudget (selector: %v) were found to be unmanaged. "+
				"As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
				"To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.clock.Now()
	disrupted, recheck, notDeleted := disruptedPodMap(pdb, pods, now)
	for _, pod := range notDeleted {
		c.recorder.Eventf(pod, corev1.EventTypeWarning, ReasonNotDeleted,
			"Pod was expected by PDB %s/%s to be deleted but it wasn't", pdb.Namespace, pdb.Name)
	}
	current := countHealthy(pods, disrupted, now)
	st := buildStatus(pdb, current, desired, expected, disrupted, now)
	if err := c.writeStatus(ctx, pdb, st); err != nil {
		return err
	}
	if recheck != nil {
		// An eviction that has not shown up as a deletion by then is
		// counted as healthy again.
		c.queue.AddAfter(pdb.Namespace+"/"+pdb.Name, recheck.Sub(now))
	}
	return nil
}

// podsFor lists the pods the budget selects: none for a nil selector,
// all of the namespace's for an empty one.
func (c *Controller) podsFor(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	if pdb.Spec.Selector == nil {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	return c.pods.Pods(pdb.Namespace).List(sel)
}

// writeStatus writes st unless the budget already has it. The update is
// conditional on the budget's resourceVersion, so it never overwrites a
// decrement the eviction handler made in between.
func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, st policyv1.PodDisruptionBudgetStatus) error {
	if statusEqual(&pdb.Status, &st) {
		return nil
	}
	out := pdb.DeepCopy()
	out.Status = st
	_, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating status of PodDisruptionBudget %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}
