package core

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// limitRangeResource has no Columns: upstream prints limit ranges with the
// default table (Name, Created At).
func limitRangeResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("limitranges"),
		Kind:       "LimitRange",
		Singular:   "limitrange",
		ShortNames: []string{"limits"},
		Namespaced: true,
		Strategy: registry.Strategy{
			Default:  defaulter(defaultLimitRange),
			Validate: validator(validateLimitRange),
			ValidateUpdate: updateValidator(func(lr, old *corev1.LimitRange) field.ErrorList {
				errs := validateMetaUpdate(&lr.ObjectMeta, &old.ObjectMeta)
				return append(errs, validateLimitRange(lr)...)
			}),
		},
	}
}

// defaultLimitRange fills container defaults the way admission later
// applies them: the default limit falls back to max, the default request
// to the default limit, then to min.
func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		fill(item.Default, item.Max)
		fill(item.DefaultRequest, item.Default)
		fill(item.DefaultRequest, item.Min)
	}
}

func fill(dst, src corev1.ResourceList) {
	for name, q := range src {
		if _, ok := dst[name]; !ok {
			dst[name] = q.DeepCopy()
		}
	}
}

var standardLimitTypes = []corev1.LimitType{corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	allErrs := validateMeta(&lr.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	fldPath := field.NewPath("spec", "limits")
	seen := map[corev1.LimitType]bool{}
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		idxPath := fldPath.Index(i)
		allErrs = append(allErrs, validateQualifiedName(string(item.Type), idxPath.Child("type"))...)
		if !strings.Contains(string(item.Type), "/") && !contains(standardLimitTypes, item.Type) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("type"), item.Type, "must be a standard limit type or fully qualified"))
		}
		if seen[item.Type] {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("type"), item.Type))
		}
		seen[item.Type] = true
		allErrs = append(allErrs, validateLimitRangeItem(item, idxPath)...)
	}
	return allErrs
}

func validateLimitRangeItem(item *corev1.LimitRangeItem, idxPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	var keys []corev1.ResourceName
	lists := []struct {
		name string
		rl   corev1.ResourceList
	}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio}}
	for _, l := range lists {
		if item.Type == corev1.LimitTypePod && (l.name == "default" || l.name == "defaultRequest") {
			// A pod has no limit of its own to default.
			if len(l.rl) > 0 {
				allErrs = append(allErrs, field.Forbidden(idxPath.Child(l.name), "may not be specified when `type` is 'Pod'"))
			}
			continue
		}
		for _, name := range sortedResourceNames(l.rl) {
			p := idxPath.Child(l.name).Key(string(name))
			if item.Type == corev1.LimitTypePod || item.Type == corev1.LimitTypeContainer {
				allErrs = append(allErrs, validateContainerResourceName(name, p)...)
			} else {
				allErrs = append(allErrs, validateResourceName(name, p)...)
			}
			if !slices.Contains(keys, name) {
				keys = append(keys, name)
			}
		}
	}
	if item.Type == corev1.LimitTypePersistentVolumeClaim {
		_, hasMin := item.Min[corev1.ResourceStorage]
		_, hasMax := item.Max[corev1.ResourceStorage]
		if !hasMin && !hasMax {
			allErrs = append(allErrs, field.Required(idxPath.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		allErrs = append(allErrs, validateLimitRangeOrder(item, k, idxPath)...)
	}
	return allErrs
}

// validateLimitRangeOrder checks min <= defaultRequest <= default <= max
// for one resource, and that the ratio is achievable.
func validateLimitRangeOrder(item *corev1.LimitRangeItem, k corev1.ResourceName, idxPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	min, hasMin := item.Min[k]
	max, hasMax := item.Max[k]
	def, hasDef := item.Default[k]
	defReq, hasDefReq := item.DefaultRequest[k]
	if item.Type == corev1.LimitTypePod {
		hasDef, hasDefReq = false, false
	}
	ratio, hasRatio := item.MaxLimitRequestRatio[k]
	key := string(k)
	invalid := func(list string, v resource.Quantity, format string, args ...any) {
		allErrs = append(allErrs, field.Invalid(idxPath.Child(list).Key(key), v, fmt.Sprintf(format, args...)))
	}
	if hasMin && hasMax && min.Cmp(max) > 0 {
		invalid("min", min, "min value %s is greater than max value %s", min.String(), max.String())
	}
	if hasDefReq && hasMin && min.Cmp(defReq) > 0 {
		invalid("defaultRequest", defReq, "min value %s is greater than default request value %s", min.String(), defReq.String())
	}
	if hasDefReq && hasMax && defReq.Cmp(max) > 0 {
		invalid("defaultRequest", defReq, "default request value %s is greater than max value %s", defReq.String(), max.String())
	}
	if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
		invalid("defaultRequest", defReq, "default request value %s is greater than default limit value %s", defReq.String(), def.String())
	}
	if hasDef && hasMin && min.Cmp(def) > 0 {
		invalid("default", min, "min value %s is greater than default value %s", min.String(), def.String())
	}
	if hasDef && hasMax && def.Cmp(max) > 0 {
		invalid("default", max, "default value %s is greater than max value %s", def.String(), max.String())
	}
	if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
		invalid("maxLimitRequestRatio", ratio, "ratio %s is less than 1", ratio.String())
	}
	// With min=100m and max=1 the largest possible limit/request ratio is 10.
	if hasRatio && hasMin && hasMax && min.Sign() > 0 {
		limit := float64(max.MilliValue()) / float64(min.MilliValue())
		if float64(ratio.MilliValue())/1000 > limit {
			invalid("maxLimitRequestRatio", ratio, "ratio %s is greater than max/min = %f", ratio.String(), limit)
		}
	}
	if !isOvercommitAllowed(k) && hasDef && hasDefReq && def.Cmp(defReq) != 0 {
		invalid("defaultRequest", defReq, "default value %s must equal to defaultRequest value %s in %s", def.String(), defReq.String(), key)
	}
	return allErrs
}
