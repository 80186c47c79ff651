package usage

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ScopeRequirements returns a quota's scopes as selector requirements:
// each spec.scopes entry as "exists", then spec.scopeSelector's.
func ScopeRequirements(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// Matches reports whether the quota applies to obj: it limits something
// eval charges (hard is the quota's hard list in force) and obj satisfies
// every scope.
func Matches(eval Evaluator, q *corev1.ResourceQuota, hard corev1.ResourceList, obj runtime.Object) (bool, error) {
	if len(eval.MatchingResources(Names(hard))) == 0 {
		return false, nil
	}
	return MatchesScopes(eval, q, obj)
}

// MatchesScopes reports whether obj satisfies all of the quota's scopes.
func MatchesScopes(eval Evaluator, q *corev1.ResourceQuota, obj runtime.Object) (bool, error) {
	for _, req := range ScopeRequirements(q) {
		ok, err := eval.MatchesScope(req, obj)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Total is what objs (all of eval's resource, in the quota's namespace)
// use of the quota's hard resources that eval charges. Every such resource
// is present, zero when nothing uses it, so status.used always lists what
// status.hard limits.
func Total(eval Evaluator, q *corev1.ResourceQuota, objs []runtime.Object, now time.Time) (corev1.ResourceList, error) {
	names := eval.MatchingResources(Names(q.Spec.Hard))
	if len(names) == 0 {
		return corev1.ResourceList{}, nil
	}
	sum := corev1.ResourceList{}
	for _, n := range names {
		sum[n] = count(0)
	}
	for _, obj := range objs {
		ok, err := MatchesScopes(eval, q, obj)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		u, err := eval.Usage(obj, now)
		if err != nil {
			return nil, err
		}
		sum = Add(sum, Mask(u, names))
	}
	return sum, nil
}
