package namespace

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
)

// finalizerEstimateSeconds is upstream's guess of how long finalizers on
// remaining content take.
const finalizerEstimateSeconds int64 = 15

// deletableResource is one namespaced resource discovery says can be
// deleted, with the verbs that decide how.
type deletableResource struct {
	gvr   schema.GroupVersionResource
	verbs []string
}

// deletableResources picks the resources with the delete verb from
// discovery, skipping subresources. A group version that does not parse
// is reported and skipped.
func deletableResources(lists []*metav1.APIResourceList) ([]deletableResource, error) {
	var out []deletableResource
	var errs []error
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			errs = append(errs, fmt.Errorf("parsing group version %q: %w", l.GroupVersion, err))
			continue
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "delete") || strings.Contains(r.Name, "/") {
				continue
			}
			out = append(out, deletableResource{gvr: gv.WithResource(r.Name), verbs: r.Verbs})
		}
	}
	slices.SortFunc(out, func(a, b deletableResource) int {
		return cmp.Or(cmp.Compare(a.gvr.Group, b.gvr.Group), cmp.Compare(a.gvr.Resource, b.gvr.Resource), cmp.Compare(a.gvr.Version, b.gvr.Version))
	})
	return out, utilerrors.NewAggregate(errs)
}

// deleteAllContent deletes everything in ns and reports, in seconds, how
// long what remains is expected to take to go. It always records the
// outcome in the namespace's conditions.
func (c *Controller) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	var errs []error
	conds := conditionUpdater{now: metav1.NewTime(c.clock.Now())}
	lists, err := c.discovery()
	if err != nil {
		// Partial discovery still names resources we can delete.
		errs = append(errs, err)
		conds.discoveryFailed(err)
	}
	resources, err := deletableResources(lists)
	if err != nil {
		errs = append(errs, err)
		conds.groupVersionFailed(err)
	}
	totals := contentTotals{gvrRemaining: map[schema.GroupVersionResource]int{}, finalizerRemaining: map[string]int{}}
	var estimate int64
	for _, r := range resources {
		left, err := c.deleteContentOf(ctx, r, ns)
		if err != nil {
			errs = append(errs, err)
			conds.deleteFailed(err)
		}
		estimate = max(estimate, left.estimate)
		totals.add(r.gvr, left)
	}
	conds.contentTotals(totals)
	if conds.apply(&ns.Status) {
		if _, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
			// The conditions are informative; the next pass writes them.
			klog.FromContext(ctx).V(2).Info("Updating namespace conditions failed", "namespace", ns.Name, "err", err)
		}
	}
	return estimate, utilerrors.NewAggregate(errs)
}

// remaining is what is left of one resource after a deletion pass.
type remaining struct {
	// estimate is how many seconds the rest may take; 0 means no estimate,
	// not that nothing is left.
	estimate   int64
	count      int
	finalizers map[string]int
}

// deleteContentOf deletes every object of one resource in ns and checks
// what is left.
func (c *Controller) deleteContentOf(ctx context.Context, r deletableResource, ns *corev1.Namespace) (remaining, error) {
	estimate, err := c.estimateGracefulTermination(ctx, r.gvr, ns)
	if err != nil {
		return remaining{}, err
	}
	client := c.metadata.Resource(r.gvr).Namespace(ns.Name)
	// Background: the garbage collector must not hold content with the
	// orphan finalizer, the namespace is going away with all of it.
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	deleted := false
	if slices.Contains(r.verbs, "deletecollection") {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			deleted = true
		case apierrors.IsMethodNotSupported(err), apierrors.IsNotFound(err):
			// Served without the verb after all: delete one by one.
		default:
			return remaining{estimate: estimate}, fmt.Errorf("deleting all %s in %s: %w", r.gvr, ns.Name, err)
		}
	}
	if !slices.Contains(r.verbs, "list") {
		return remaining{estimate: estimate}, nil
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return remaining{estimate: estimate}, nil
	}
	if err != nil {
		return remaining{estimate: estimate}, fmt.Errorf("listing %s in %s: %w", r.gvr, ns.Name, err)
	}
	if !deleted && len(list.Items) > 0 {
		for _, item := range list.Items {
			err := client.Delete(ctx, item.Name, opts)
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				return remaining{estimate: estimate}, fmt.Errorf("deleting %s %s/%s: %w", r.gvr, ns.Name, item.Name, err)
			}
		}
		if list, err = client.List(ctx, metav1.ListOptions{}); err != nil {
			return remaining{estimate: estimate}, fmt.Errorf("listing %s in %s: %w", r.gvr, ns.Name, err)
		}
	}
	return leftOver(r.gvr, ns.Name, list.Items, estimate)
}

// leftOver judges what a deletion pass left: objects in graceful
// termination (estimate > 0) or held by finalizers are expected to go in
// time; anything else should not be there.
func leftOver(gvr schema.GroupVersionResource, ns string, items []metav1.PartialObjectMetadata, estimate int64) (remaining, error) {
	if len(items) == 0 {
		return remaining{}, nil
	}
	finalizers := map[string]int{}
	for _, item := range items {
		for _, f := range item.Finalizers {
			finalizers[f]++
		}
	}
	left := remaining{estimate: estimate, count: len(items), finalizers: finalizers}
	switch {
	case estimate > 0:
		return left, nil
	case len(finalizers) > 0:
		left.estimate = finalizerEstimateSeconds
		return left, nil
	}
	return left, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns, gvr)
}

// estimateGracefulTermination is, for pods, the longest termination grace
// period of a pod that is not yet terminal, unless the namespace has been
// terminating longer than that already; 0 for everything else.
//
// Example: pods with 30s grace periods and a namespace deleted 10s ago
// give 30; deleted 45s ago give 0 (they should be gone by now).
func (c *Controller) estimateGracefulTermination(ctx context.Context, gvr schema.GroupVersionResource, ns *corev1.Namespace) (int64, error) {
	if gvr.Group != "" || gvr.Resource != "pods" {
		return 0, nil
	}
	pods, err := c.client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("listing pods in %s to estimate their termination: %w", ns.Name, err)
	}
	var estimate int64
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
			estimate = max(estimate, *g)
		}
	}
	if c.clock.Since(ns.DeletionTimestamp.Time) >= time.Duration(estimate)*time.Second {
		return 0, nil
	}
	return estimate, nil
}
