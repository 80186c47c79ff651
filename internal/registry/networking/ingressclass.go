package networking

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

const maxLenIngressClassController = 250

func ingressClassResource() registry.Resource {
	return registry.Resource{
		GVR:              networkingv1.SchemeGroupVersion.WithResource("ingressclasses"),
		Kind:             "IngressClass",
		Singular:         "ingressclass",
		TracksGeneration: true,
		Strategy: registry.Strategy{
			Default:        func(obj runtime.Object) { DefaultIngressClass(obj.(*networkingv1.IngressClass)) },
			Validate:       validateIngressClass,
			ValidateUpdate: validateIngressClassUpdate,
			Columns:        ingressClassColumns,
			Row:            ingressClassRow,
		},
	}
}

// DefaultIngressClass makes parameter references cluster-scoped unless
// they say otherwise, as they were before the scope field existed.
func DefaultIngressClass(ic *networkingv1.IngressClass) {
	if p := ic.Spec.Parameters; p != nil && p.Scope == nil {
		scope := networkingv1.IngressClassParametersReferenceScopeCluster
		p.Scope = &scope
	}
}

func validateIngressClass(obj runtime.Object) field.ErrorList {
	ic := obj.(*networkingv1.IngressClass)
	allErrs := apivalidation.ValidateObjectMeta(&ic.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	if len(ic.Spec.Controller) > maxLenIngressClassController {
		allErrs = append(allErrs, field.TooLong(specPath.Child("controller"), ic.Spec.Controller, maxLenIngressClassController))
	}
	// Empty is reported as required by the domain-prefixed path check.
	allErrs = append(allErrs, validation.IsDomainPrefixedPath(specPath.Child("controller"), ic.Spec.Controller)...)
	return append(allErrs, validateParametersReference(ic.Spec.Parameters, specPath.Child("parameters"))...)
}

// validateIngressClassUpdate keeps the controller fixed: Ingresses already
// bound to the class would silently change hands.
func validateIngressClassUpdate(obj, old runtime.Object) field.ErrorList {
	ic, oldIC := obj.(*networkingv1.IngressClass), old.(*networkingv1.IngressClass)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ic.ObjectMeta, &oldIC.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(ic.Spec.Controller, oldIC.Spec.Controller, field.NewPath("spec", "controller"))...)
	return append(allErrs, validateIngressClass(ic)...)
}

func validateParametersReference(p *networkingv1.IngressClassParametersReference, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	allErrs := validateTypedLocalObjectReference(p.APIGroup, p.Kind, p.Name, fldPath)
	if p.Scope == nil {
		return append(allErrs, field.Required(fldPath.Child("scope"), ""))
	}
	switch *p.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if p.Namespace == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		} else {
			for _, msg := range apivalidation.ValidateNamespaceName(*p.Namespace, false) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("namespace"), *p.Namespace, msg))
			}
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if p.Namespace != nil {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		valid := []string{networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("scope"), *p.Scope, valid))
	}
	return allErrs
}

// validateTypedLocalObjectReference checks a reference to an arbitrary
// object (an Ingress resource backend or IngressClass parameters).
func validateTypedLocalObjectReference(apiGroup *string, kind, name string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if apiGroup != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*apiGroup) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("apiGroup"), *apiGroup, msg))
		}
	}
	if kind == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), "kind is required"))
	} else {
		for _, msg := range content.IsPathSegmentName(kind) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("kind"), kind, msg))
		}
	}
	if name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), "name is required"))
	} else {
		for _, msg := range content.IsPathSegmentName(name) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), name, msg))
		}
	}
	return allErrs
}

var ingressClassColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Controller", Type: "string", Description: "Controller that is responsible for handling this class"},
	{Name: "Parameters", Type: "string", Description: "A reference to a resource with additional parameters"},
	ageColumn,
}

func ingressClassRow(obj runtime.Object) ([]any, error) {
	ic, ok := obj.(*networkingv1.IngressClass)
	if !ok {
		return nil, fmt.Errorf("expected *v1.IngressClass, got %T", obj)
	}
	params := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return []any{ic.Name, ic.Spec.Controller, params, age(ic.CreationTimestamp)}, nil
}
