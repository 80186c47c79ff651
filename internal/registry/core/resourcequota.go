package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func resourceQuotaResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("resourcequotas"),
		Kind:       "ResourceQuota",
		Singular:   "resourcequota",
		ShortNames: []string{"quota"},
		Namespaced: true,
		HasStatus:  true,
		Strategy: registry.Strategy{
			Validate: validator(func(q *corev1.ResourceQuota) field.ErrorList {
				errs := validateMeta(&q.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
				errs = append(errs, validateQuotaSpec(&q.Spec, field.NewPath("spec"))...)
				return append(errs, validateQuotaStatus(&q.Status, field.NewPath("status"))...)
			}),
			ValidateUpdate: updateValidator(func(q, old *corev1.ResourceQuota) field.ErrorList {
				errs := validateMetaUpdate(&q.ObjectMeta, &old.ObjectMeta)
				errs = append(errs, validateQuotaSpec(&q.Spec, field.NewPath("spec"))...)
				// Scopes decide which objects the quota counts; changing them
				// would invalidate the usage already recorded.
				fldPath := field.NewPath("spec", "scopes")
				if !sameScopes(q.Spec.Scopes, old.Spec.Scopes) {
					errs = append(errs, field.Invalid(fldPath, q.Spec.Scopes, "field is immutable"))
				}
				return errs
			}),
			ValidateStatusUpdate: updateValidator(func(q, old *corev1.ResourceQuota) field.ErrorList {
				errs := validateMetaUpdate(&q.ObjectMeta, &old.ObjectMeta)
				return append(errs, validateQuotaStatus(&q.Status, field.NewPath("status"))...)
			}),
			Columns: []metav1.TableColumnDefinition{
				nameColumn(),
				{Name: "Request", Type: "string", Description: "Request represents a minimum amount of cpu/memory that a container may consume."},
				{Name: "Limit", Type: "string", Description: "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."},
				ageColumn(),
			},
			Row: rower(quotaRow),
		},
	}
}

func sameScopes(a, b []corev1.ResourceQuotaScope) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !contains(b, s) {
			return false
		}
	}
	return true
}

var standardQuotaResources = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
	corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
	corev1.ResourceSecrets, corev1.ResourcePersistentVolumeClaims, corev1.ResourceConfigMaps,
	corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
}

func isStandardQuotaResourceName(name corev1.ResourceName) bool {
	s := string(name)
	return contains(standardQuotaResources, name) || strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(s, corev1.ResourceRequestsHugePagesPrefix) || strings.HasPrefix(s, "limits."+corev1.ResourceHugePagesPrefix)
}

func validateQuotaResourceList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, name := range sortedResourceNames(list) {
		p := fldPath.Key(string(name))
		allErrs = append(allErrs, validateResourceName(name, p)...)
		if !strings.Contains(string(name), "/") && !isStandardQuotaResourceName(name) {
			allErrs = append(allErrs, field.Invalid(p, name, "must be a standard resource for quota"))
		}
		allErrs = append(allErrs, validateResourceQuantityValue(name, list[name], p)...)
	}
	return allErrs
}

var supportedQuotaScopes = []corev1.ResourceQuotaScope{
	corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
	corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	corev1.ResourceQuotaScopeVolumeAttributesClass,
}

func validateQuotaSpec(spec *corev1.ResourceQuotaSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateQuotaResourceList(spec.Hard, fldPath.Child("hard"))
	scopesPath := fldPath.Child("scopes")
	for _, s := range spec.Scopes {
		if !contains(supportedQuotaScopes, s) {
			allErrs = append(allErrs, field.Invalid(scopesPath, spec.Scopes, "unsupported scope"))
		}
	}
	// A pod cannot be both, so such a quota could never match anything.
	for _, pair := range [][2]corev1.ResourceQuotaScope{
		{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
		{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
	} {
		if contains(spec.Scopes, pair[0]) && contains(spec.Scopes, pair[1]) {
			allErrs = append(allErrs, field.Invalid(scopesPath, spec.Scopes, "conflicting scopes"))
		}
	}
	if sel := spec.ScopeSelector; sel != nil {
		for i, req := range sel.MatchExpressions {
			p := fldPath.Child("scopeSelector", "matchExpressions").Index(i)
			if !contains(supportedQuotaScopes, req.ScopeName) {
				allErrs = append(allErrs, field.Invalid(p.Child("scopeName"), req.ScopeName, "unsupported scope"))
			}
		}
	}
	return allErrs
}

func validateQuotaStatus(st *corev1.ResourceQuotaStatus, fldPath *field.Path) field.ErrorList {
	allErrs := validateQuotaResourceList(st.Hard, fldPath.Child("hard"))
	return append(allErrs, validateQuotaResourceList(st.Used, fldPath.Child("used"))...)
}

// quotaRow is upstream's REQUEST and LIMIT cells: "used/hard" per resource,
// limits.* under LIMIT and everything else under REQUEST.
func quotaRow(q *corev1.ResourceQuota) []any {
	var req, lim []string
	for _, name := range sortedResourceNames(q.Status.Hard) {
		used, hard := q.Status.Used[name], q.Status.Hard[name]
		cell := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if prefix, _, ok := strings.Cut(string(name), "."); ok && prefix == "limits" {
			lim = append(lim, cell)
		} else {
			req = append(req, cell)
		}
	}
	return []any{q.Name, strings.Join(req, ", "), strings.Join(lim, ", "), translateTimestampSince(q.CreationTimestamp)}
}
