package resourcequota

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/internal/controller/resourcequota/usage"
)

// sync recomputes one quota's usage and writes its status if it changed.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	computed, live, err := c.computeUsage(ctx, q)
	if err != nil {
		return err
	}
	if live {
		c.queue.AddAfter(key, liveResync)
	}
	st, dirty := desiredStatus(q, computed)
	if !dirty {
		return nil
	}
	out := q.DeepCopy()
	out.Status = st
	if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of resource quota %s: %w", key, err)
	}
	return nil
}

// computeUsage sums, per evaluator the quota's limits concern, the usage of
// the namespace's objects. live reports that some of it was listed from
// the API server rather than a cache.
func (c *Controller) computeUsage(ctx context.Context, q *corev1.ResourceQuota) (corev1.ResourceList, bool, error) {
	total := corev1.ResourceList{}
	live := false
	now := c.clock.Now()
	for _, gr := range resourcesFor(q.Spec.Hard) {
		eval := usage.For(gr)
		var objs []runtime.Object
		var err error
		if src, ok := c.sources[gr]; ok {
			if objs, err = src.list(q.Namespace); err != nil {
				return nil, live, err
			}
		} else {
			live = true
			if objs, err = c.live.count(ctx, gr, q.Namespace); err != nil {
				// A resource that is not served (yet: its CRD may come) must
				// not keep the quota's other usage from being recorded; its
				// usage stays unknown and is retried with the live resync.
				klog.FromContext(ctx).V(2).Info("Cannot count objects for quota", "quota", klog.KObj(q), "resource", gr, "err", err)
				continue
			}
		}
		u, err := usage.Total(eval, q, objs, now)
		if err != nil {
			return nil, live, fmt.Errorf("computing %s usage: %w", gr, err)
		}
		total = usage.Add(total, u)
	}
	return total, live, nil
}

// knownResources are the resources whose evaluators charge something
// besides count/<resource>.
var knownResources = []schema.GroupResource{
	{Resource: "pods"}, {Resource: "services"}, {Resource: "persistentvolumeclaims"},
	{Resource: "configmaps"}, {Resource: "secrets"}, {Resource: "replicationcontrollers"}, {Resource: "resourcequotas"},
}

// resourcesFor lists the resources whose objects a quota's limits concern.
func resourcesFor(hard corev1.ResourceList) []schema.GroupResource {
	names := usage.Names(hard)
	seen := map[schema.GroupResource]bool{}
	var out []schema.GroupResource
	for _, gr := range knownResources {
		if len(usage.For(gr).MatchingResources(names)) > 0 {
			seen[gr] = true
			out = append(out, gr)
		}
	}
	for _, n := range names {
		if gr, ok := usage.ParseCountName(n); ok && !seen[gr] {
			seen[gr] = true
			out = append(out, gr)
		}
	}
	return out
}

// desiredStatus is the status a quota should have given freshly computed
// usage: hard mirrors spec.hard; used keeps earlier observations for
// limits no evaluator computed, takes the computed values, and lists
// exactly the limited names. dirty reports whether it differs from the
// stored status.
func desiredStatus(q *corev1.ResourceQuota, computed corev1.ResourceList) (corev1.ResourceQuotaStatus, bool) {
	used := usage.Add(corev1.ResourceList{}, q.Status.Used)
	for k, v := range computed {
		used[k] = v.DeepCopy()
	}
	used = usage.Mask(used, usage.Names(q.Spec.Hard))
	st := corev1.ResourceQuotaStatus{Hard: usage.Add(corev1.ResourceList{}, q.Spec.Hard), Used: used}
	dirty := !usage.Equal(q.Status.Hard, st.Hard) || !usage.Equal(q.Status.Used, st.Used)
	return st, dirty
}
