package resourcequota

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/admission"
	"github.com/skiff-sh/skiff/internal/controller/resourcequota/usage"
)

const (
	// maxAttempts bounds the conditional status updates of one quota under
	// contention; each lost race re-reads the quota, so N concurrent
	// creates need at most N attempts between them.
	maxAttempts = 16
)

// Plugin is the ResourceQuota admission plugin.
type Plugin struct {
	client kubernetes.Interface
	quotas *admission.NamespaceLister[corev1.ResourceQuota]
	now    func() time.Time
}

var _ admission.Plugin = (*Plugin)(nil)

// New builds the plugin and registers a ResourceQuota informer on factory;
// the caller starts factory once the API server serves. Until its cache
// has synced the plugin reads quotas with client.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Plugin {
	inf := factory.Core().V1().ResourceQuotas()
	return &Plugin{
		client: client,
		quotas: admission.NewNamespaceLister(inf.Informer().HasSynced,
			func(ns string) ([]*corev1.ResourceQuota, error) {
				return inf.Lister().ResourceQuotas(ns).List(labels.Everything())
			},
			func(ctx context.Context, ns string) ([]*corev1.ResourceQuota, error) {
				list, err := client.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, fmt.Errorf("listing resource quotas in %s: %w", ns, err)
				}
				return admission.Pointers(list.Items), nil
			}),
		now: time.Now,
	}
}

// Admit checks a create (or a usage-changing update) against every quota
// of its namespace that limits it, and charges the quotas' status.used
// before the object is stored, so that concurrent writes cannot both fit
// under the same limit.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || a.Namespace == "" || a.Object == nil {
		return nil
	}
	eval := usage.For(a.Resource.GroupResource())
	switch {
	case a.Operation == admission.Create:
	case a.Operation == admission.Update && eval.ChargesUpdates():
	default:
		return nil
	}
	quotas, err := p.sortedQuotas(ctx, a.Namespace)
	if err != nil {
		return forbidden(a, fmt.Errorf("unable to look up resource quotas: %w", err))
	}
	var limiting []*corev1.ResourceQuota
	for _, q := range quotas {
		ok, err := concerned(eval, q, a.Object)
		if err != nil {
			return forbidden(a, err)
		}
		if ok {
			limiting = append(limiting, q)
		}
	}
	if len(limiting) == 0 {
		return nil
	}
	d, err := delta(eval, a, p.now())
	if err != nil {
		return forbidden(a, err)
	}
	if len(d) == 0 {
		return nil
	}
	// Check every quota before charging any, so a refusal charges nothing.
	for i, q := range limiting {
		fresh, err := p.checkFresh(ctx, q, d)
		if err != nil {
			return forbidden(a, err)
		}
		limiting[i] = fresh
	}
	if a.DryRun {
		return nil
	}
	for _, q := range limiting {
		if err := p.chargeQuota(ctx, a, eval, q, d); err != nil {
			return err
		}
	}
	return nil
}

// checkFresh is charge, but a refusal based on a cached quota is confirmed
// against the stored one first: usage may have gone down since.
func (p *Plugin) checkFresh(ctx context.Context, q *corev1.ResourceQuota, d corev1.ResourceList) (*corev1.ResourceQuota, error) {
	if _, err := charge(q, d); err == nil {
		return q, nil
	}
	fresh, err := p.client.CoreV1().ResourceQuotas(q.Namespace).Get(ctx, q.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading resource quota %s: %w", q.Name, err)
	}
	if _, err := charge(fresh, d); err != nil {
		return nil, err
	}
	return fresh, nil
}

// chargeQuota adds d to q's status.used with an update conditional on q's
// resourceVersion; losing a race re-reads q and checks again.
func (p *Plugin) chargeQuota(ctx context.Context, a *admission.Attributes, eval usage.Evaluator, q *corev1.ResourceQuota, d corev1.ResourceList) error {
	api := p.client.CoreV1().ResourceQuotas(q.Namespace)
	var lastErr error
	for range maxAttempts {
		used, err := charge(q, d)
		if err != nil {
			return forbidden(a, err)
		}
		if used == nil {
			return nil
		}
		out := q.DeepCopy()
		out.Status.Used = used
		_, err = api.UpdateStatus(ctx, out, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("charging resource quota %s: %w", q.Name, err)
		}
		lastErr = err
		fresh, err := api.Get(ctx, q.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // the quota went away; nothing limits the write
		}
		if err != nil {
			return fmt.Errorf("re-reading resource quota %s: %w", q.Name, err)
		}
		// The quota's scopes are immutable, but its limits may have changed.
		if ok, err := concerned(eval, fresh, a.Object); err != nil {
			return forbidden(a, err)
		} else if !ok {
			return nil
		}
		q = fresh
	}
	return lastErr
}

// forbidden is upstream's admission.NewForbidden: 403,
// `pods "name" is forbidden: <reason>`.
func forbidden(a *admission.Attributes, err error) error {
	name := a.Name
	if name == "" {
		if acc, aerr := meta.Accessor(a.Object); aerr == nil {
			name = acc.GetGenerateName()
		}
	}
	return apierrors.NewForbidden(a.Resource.GroupResource(), name, err)
}

// sortedQuotas returns the namespace's quotas sorted by name.
func (p *Plugin) sortedQuotas(ctx context.Context, ns string) ([]*corev1.ResourceQuota, error) {
	items, err := p.quotas.List(ctx, ns)
	if err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return items, nil
}
