package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateRole(obj runtime.Object) field.ErrorList {
	r := obj.(*rbacv1.Role)
	allErrs := validateMeta(&r.ObjectMeta, true)
	return append(allErrs, validateRules(r.Rules, true)...)
}

func validateRoleUpdate(obj, old runtime.Object) field.ErrorList {
	allErrs := validateRole(obj)
	return append(allErrs, validateMetaUpdate(&obj.(*rbacv1.Role).ObjectMeta, &old.(*rbacv1.Role).ObjectMeta)...)
}

func validateClusterRole(obj runtime.Object) field.ErrorList {
	r := obj.(*rbacv1.ClusterRole)
	allErrs := validateMeta(&r.ObjectMeta, false)
	allErrs = append(allErrs, validateRules(r.Rules, false)...)
	if r.AggregationRule != nil {
		selPath := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(r.AggregationRule.ClusterRoleSelectors) == 0 {
			allErrs = append(allErrs, field.Required(selPath, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range r.AggregationRule.ClusterRoleSelectors {
			sel := &r.AggregationRule.ClusterRoleSelectors[i]
			allErrs = append(allErrs, metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, selPath.Index(i))...)
			if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
				allErrs = append(allErrs, field.Invalid(selPath.Index(i), sel, "invalid label selector."))
			}
		}
	}
	return allErrs
}

func validateClusterRoleUpdate(obj, old runtime.Object) field.ErrorList {
	allErrs := validateClusterRole(obj)
	return append(allErrs, validateMetaUpdate(&obj.(*rbacv1.ClusterRole).ObjectMeta, &old.(*rbacv1.ClusterRole).ObjectMeta)...)
}

func validateRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	for i := range rules {
		allErrs = append(allErrs, validatePolicyRule(&rules[i], namespaced, field.NewPath("rules").Index(i))...)
	}
	return allErrs
}

// validatePolicyRule: a rule grants verbs either on non-resource URLs
// (cluster roles only) or on resources of named API groups, never both.
func validatePolicyRule(rule *rbacv1.PolicyRule, namespaced bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(rule.Verbs) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return allErrs
	}
	if len(rule.APIGroups) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("resources"), "resource rules must supply at least one resource"))
	}
	if len(rule.ResourceNames) > 0 && len(rule.Resources) > 1 {
		allErrs = append(allErrs, field.Required(fldPath.Child("resourceNames"), "resource names cannot apply to multiple resources"))
	}
	return allErrs
}
