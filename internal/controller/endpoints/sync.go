package endpoints

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// sync brings the Endpoints object of one Service in line with its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made; nothing to retry
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggers.Delete(ns, name)
		return c.deleteOrphan(ctx, ns, name)
	}
	if err != nil {
		return err
	}
	// ExternalName Services have no endpoints; Services without a selector
	// have endpoints their owner writes.
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(labels.Set(svc.Spec.Selector)))
	if err != nil {
		return err
	}
	// Computed even when nothing is written, so the tracker remembers what
	// this sync saw.
	trigger := c.triggers.Compute(svc, pods)
	subsets, ready, notReady := computeSubsets(svc, pods)
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if apierrors.IsNotFound(err) {
		cur = nil
	}
	want := desiredEndpoints(svc, cur, subsets, trigger)
	if want == nil {
		return nil
	}
	klog.FromContext(ctx).V(4).Info("Writing endpoints", "service", klog.KObj(svc), "ready", ready, "notReady", notReady)
	return c.write(ctx, svc, want, cur == nil)
}

func (c *Controller) write(ctx context.Context, svc *corev1.Service, ep *corev1.Endpoints, create bool) error {
	var err error
	if create {
		_, err = c.client.CoreV1().Endpoints(ep.Namespace).Create(ctx, ep, metav1.CreateOptions{})
		if isNamespaceTerminating(err) {
			return nil
		}
		if apierrors.IsAlreadyExists(err) {
			// The cache has not seen it yet; the create event will bring the
			// Service back if anything differs.
			return fmt.Errorf("endpoints %s/%s exist but are not cached yet", ep.Namespace, ep.Name)
		}
	} else {
		_, err = c.client.CoreV1().Endpoints(ep.Namespace).Update(ctx, ep, metav1.UpdateOptions{})
	}
	if err == nil {
		return nil
	}
	if apierrors.IsConflict(err) {
		return err // a newer version is on its way to the cache
	}
	if create {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonFailedToCreateEndpoint,
			"Failed to create endpoint for service %s/%s: %v", svc.Namespace, svc.Name, err)
	} else {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonFailedToUpdateEndpoint,
			"Failed to update endpoint %s/%s: %v", svc.Namespace, svc.Name, err)
	}
	return fmt.Errorf("writing endpoints %s/%s: %w", ep.Namespace, ep.Name, err)
}

// deleteOrphan removes the Endpoints of a deleted Service, but only when
// this controller wrote them: Endpoints someone else created for a name
// with no Service are theirs.
func (c *Controller) deleteOrphan(ctx context.Context, ns, name string) error {
	ep, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ep.Labels[LabelManagedBy] != ControllerName {
		return nil
	}
	uid := ep.UID
	err = c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting endpoints %s/%s: %w", ns, name, err)
	}
	return nil
}
