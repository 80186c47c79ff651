// Package usage says what an object costs against a ResourceQuota: the
// evaluators for pods, services, persistent volume claims and object
// counts, quota scopes, and arithmetic on resource lists. The ResourceQuota
// controller (which recomputes status.used from caches) and the
// ResourceQuota admission plugin (which charges each create against
// status.used) share it, so the two can never disagree about a price.
// Pure functions only: it reads no API and keeps no state.
package usage

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Add returns a + b.
func Add(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range a {
		out[k] = v.DeepCopy()
	}
	for k, v := range b {
		q := v.DeepCopy()
		if prev, ok := out[k]; ok {
			q.Add(prev)
		}
		out[k] = q
	}
	return out
}

// SubtractNonNegative returns a - b for the names in a, never below zero.
func SubtractNonNegative(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range a {
		q := v.DeepCopy()
		if sub, ok := b[k]; ok {
			q.Sub(sub)
		}
		if q.Sign() < 0 {
			q = resource.Quantity{Format: v.Format}
		}
		out[k] = q
	}
	return out
}

// Mask keeps only the named resources.
func Mask(list corev1.ResourceList, names []corev1.ResourceName) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, n := range names {
		if v, ok := list[n]; ok {
			out[n] = v.DeepCopy()
		}
	}
	return out
}

// Names returns the resource names of list, sorted.
func Names(list corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(list))
	for k := range list {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// IsZero reports whether every quantity in list is zero.
func IsZero(list corev1.ResourceList) bool {
	for _, v := range list {
		if !v.IsZero() {
			return false
		}
	}
	return true
}

// Equal reports whether a and b hold the same names and quantities.
func Equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

// LessThanOrEqual reports whether a <= b for every name both hold, and
// which names exceed.
func LessThanOrEqual(a, b corev1.ResourceList) (bool, []corev1.ResourceName) {
	var exceeded []corev1.ResourceName
	for _, k := range Names(a) {
		if limit, ok := b[k]; ok {
			if v := a[k]; v.Cmp(limit) <= 0 {
				continue
			}
			exceeded = append(exceeded, k)
		}
	}
	return len(exceeded) == 0, exceeded
}

// Format prints a list as upstream's quota messages do:
// "limits.cpu=2,pods=1", names sorted.
func Format(list corev1.ResourceList) string {
	parts := make([]string, 0, len(list))
	for _, k := range Names(list) {
		q := list[k]
		parts = append(parts, string(k)+"="+q.String())
	}
	return strings.Join(parts, ",")
}

// FormatNames prints names comma-separated, sorted.
func FormatNames(names []corev1.ResourceName) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func one() resource.Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

func count(n int64) resource.Quantity { return *resource.NewQuantity(n, resource.DecimalSI) }
