package core

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func namespaceResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("namespaces"),
		Kind:       "Namespace",
		Singular:   "namespace",
		ShortNames: []string{"ns"},
		HasStatus:  true,
		Strategy: registry.Strategy{
			Default:              defaulter(defaultNamespace),
			PrepareForCreate:     defaulter(prepareNamespaceForCreate),
			PrepareForUpdate:     updater(prepareNamespaceForUpdate),
			Validate:             validator(validateNamespace),
			ValidateUpdate:       updateValidator(validateNamespaceUpdate),
			ValidateStatusUpdate: updateValidator(validateNamespaceStatusUpdate),
			Columns: []metav1.TableColumnDefinition{
				nameColumn(),
				{Name: "Status", Type: "string", Description: "The status of the namespace"},
				ageColumn(),
			},
			Row: rower(func(ns *corev1.Namespace) []any {
				return []any{ns.Name, string(ns.Status.Phase), translateTimestampSince(ns.CreationTimestamp)}
			}),
			Fields: fielder(func(ns *corev1.Namespace) fields.Set {
				// "name" is a historical upstream field selector that
				// clients still use.
				return fields.Set{"status.phase": string(ns.Status.Phase), "name": ns.Name}
			}),
		},
	}
}

// defaultNamespace labels a namespace with its own name so that label
// selectors (NetworkPolicy namespaceSelector) can pick namespaces by name.
func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name == "" {
		return // generateName: the name is not known yet
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

func prepareNamespaceForCreate(ns *corev1.Namespace) {
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	// The "kubernetes" finalizer makes deletion wait for the namespace
	// controller to empty the namespace.
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return
		}
	}
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
}

// prepareNamespaceForUpdate: spec.finalizers change only through the
// finalize subresource, so a plain update keeps the stored ones.
func prepareNamespaceForUpdate(ns, old *corev1.Namespace) {
	ns.Spec.Finalizers = old.Spec.Finalizers
}

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	allErrs := validateMeta(&ns.ObjectMeta, false, apivalidation.ValidateNamespaceName)
	for i, f := range ns.Spec.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return allErrs
}

// validateKubeFinalizerName accepts the standard finalizers and any
// domain-qualified name.
func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	allErrs := apivalidation.ValidateFinalizerName(name, fldPath)
	if !strings.Contains(name, "/") {
		switch name {
		case string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents:
		default:
			allErrs = append(allErrs, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return allErrs
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	return validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
}

// validateNamespaceStatusUpdate: the phase follows deletionTimestamp.
func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	allErrs := validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	// Upstream's path really is "status.Phase".
	phasePath := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return allErrs
}
