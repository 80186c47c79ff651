package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// errStaleCache makes a sync wait (with back-off) for the informer to show
// this controller's own writes.
var errStaleCache = errors.New("endpoint slice cache is older than this controller's last write")

// sync brings the slices of one Service in line with its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector removes the slices through their owner
		// reference.
		c.triggers.Delete(ns, name)
		c.tracker.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(labels.Set(svc.Spec.Selector)))
	if err != nil {
		return err
	}
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromValidatedSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName}))
	if err != nil {
		return err
	}
	existing = withoutDeleting(existing)
	if c.tracker.stale(key, existing) {
		return errStaleCache
	}
	trigger := c.triggers.Compute(svc, pods)
	p := reconcile(svc, pods, existing, maxEndpointsPerSlice)
	if err := c.apply(ctx, svc, p, trigger); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonFailedToUpdateEndpointSlices,
			"Error updating Endpoint Slices for Service %s/%s: %v", ns, name, err)
		return err
	}
	return nil
}

// withoutDeleting drops slices already being deleted: they are gone for
// planning purposes.
func withoutDeleting(in []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	out := make([]*discoveryv1.EndpointSlice, 0, len(in))
	for _, s := range in {
		if s.DeletionTimestamp == nil {
			out = append(out, s)
		}
	}
	return out
}

// apply performs a plan: creates, then updates, then deletes, so that
// endpoints moving between slices are never missing from all of them.
func (c *Controller) apply(ctx context.Context, svc *corev1.Service, p plan, trigger time.Time) error {
	api := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	logger := klog.FromContext(ctx)
	// A Service being deleted gets no new slices, which would race the
	// garbage collector deleting its old ones.
	if svc.DeletionTimestamp == nil {
		for _, s := range p.create {
			setTriggerTime(s, trigger)
			got, err := api.Create(ctx, s, metav1.CreateOptions{})
			if apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("creating endpoint slice for service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
			c.tracker.written(got)
		}
	}
	for _, s := range p.update {
		setTriggerTime(s, trigger)
		got, err := api.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("updating endpoint slice %s/%s: %w", svc.Namespace, s.Name, err)
		}
		c.tracker.written(got)
	}
	for _, s := range p.delete {
		uid := s.UID
		err := api.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting endpoint slice %s/%s: %w", svc.Namespace, s.Name, err)
		}
		c.tracker.deleted(s)
	}
	if n := len(p.create) + len(p.update) + len(p.delete); n > 0 {
		logger.V(4).Info("Wrote endpoint slices", "service", klog.KObj(svc),
			"created", len(p.create), "updated", len(p.update), "deleted", len(p.delete))
	}
	return nil
}

func setTriggerTime(s *discoveryv1.EndpointSlice, trigger time.Time) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if trigger.IsZero() {
		delete(s.Annotations, corev1.EndpointsLastChangeTriggerTime)
		return
	}
	s.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
}
