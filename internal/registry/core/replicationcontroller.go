package core

import (
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func replicationControllerResource() registry.Resource {
	return registry.Resource{
		GVR:              coreGVR("replicationcontrollers"),
		Kind:             "ReplicationController",
		Singular:         "replicationcontroller",
		ShortNames:       []string{"rc"},
		Categories:       []string{"all"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Scale: &registry.Scale{
			Replicas: rcReplicas,
			SetReplicas: func(obj runtime.Object, n int32) {
				if rc, ok := obj.(*corev1.ReplicationController); ok {
					rc.Spec.Replicas = ptrTo(n)
				}
			},
		},
		Strategy: registry.Strategy{
			Default: defaulter(defaultRC),
			PrepareForCreate: defaulter(func(rc *corev1.ReplicationController) {
				rc.Status = corev1.ReplicationControllerStatus{}
				rc.Generation = 1
			}),
			Validate: validator(func(rc *corev1.ReplicationController) field.ErrorList {
				errs := validateMeta(&rc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
				return append(errs, validateRCSpec(&rc.Spec, field.NewPath("spec"))...)
			}),
			ValidateUpdate: updateValidator(func(rc, old *corev1.ReplicationController) field.ErrorList {
				errs := validateMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
				errs = append(errs, validateMeta(&rc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)...)
				return append(errs, validateRCSpec(&rc.Spec, field.NewPath("spec"))...)
			}),
			ValidateStatusUpdate: updateValidator(func(rc, old *corev1.ReplicationController) field.ErrorList {
				errs := validateMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta)
				return append(errs, validateRCStatus(&rc.Status, field.NewPath("status"))...)
			}),
			Columns: rcColumns(),
			Row:     rower(rcRow),
			Fields: fielder(func(rc *corev1.ReplicationController) fields.Set {
				return fields.Set{"status.replicas": strconv.Itoa(int(rc.Status.Replicas))}
			}),
		},
	}
}

func rcReplicas(obj runtime.Object) (spec, status int32, selector string) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return 0, 0, ""
	}
	spec = 1 // the declarative default, for objects read before defaulting
	if rc.Spec.Replicas != nil {
		spec = *rc.Spec.Replicas
	}
	return spec, rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String()
}

// defaultRC fills the selector, and the RC's own labels, from the template
// labels when unset, as upstream does for this old API.
func defaultRC(rc *corev1.ReplicationController) {
	if t := rc.Spec.Template; t != nil {
		if t.Labels != nil {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = maps.Clone(t.Labels)
			}
			if len(rc.Labels) == 0 {
				rc.Labels = maps.Clone(t.Labels)
			}
		}
		SetDefaultsPodSpec(&t.Spec)
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptrTo(int32(1))
	}
}

func validateRCSpec(spec *corev1.ReplicationControllerSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))
	selector := labels.SelectorFromSet(spec.Selector)
	if selector.Empty() {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	}
	allErrs = append(allErrs, metav1validation.ValidateLabels(spec.Selector, fldPath.Child("selector"))...)
	if spec.Replicas != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*spec.Replicas), fldPath.Child("replicas"))...)
	}
	tmplPath := fldPath.Child("template")
	t := spec.Template
	if t == nil {
		return append(allErrs, field.Required(tmplPath, ""))
	}
	// An RC owns the pods its selector matches; pods it creates from a
	// template its selector does not match would be orphans at birth.
	if !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
		allErrs = append(allErrs, field.Invalid(tmplPath.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	allErrs = append(allErrs, ValidatePodTemplateSpec(t, tmplPath)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(tmplPath.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(tmplPath.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicationController is not Supported"))
	}
	return allErrs
}

func validateRCStatus(st *corev1.ReplicationControllerStatus, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"replicas", int64(st.Replicas)}, {"fullyLabeledReplicas", int64(st.FullyLabeledReplicas)},
		{"readyReplicas", int64(st.ReadyReplicas)}, {"availableReplicas", int64(st.AvailableReplicas)},
		{"observedGeneration", st.ObservedGeneration},
	} {
		allErrs = append(allErrs, validateNonnegative(f.value, fldPath.Child(f.name))...)
	}
	const msg = "cannot be greater than status.replicas"
	if st.FullyLabeledReplicas > st.Replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("fullyLabeledReplicas"), st.FullyLabeledReplicas, msg))
	}
	if st.ReadyReplicas > st.Replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("readyReplicas"), st.ReadyReplicas, msg))
	}
	if st.AvailableReplicas > st.Replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), st.AvailableReplicas, msg))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return allErrs
}

func rcColumns() []metav1.TableColumnDefinition {
	spec, status := corev1.ReplicationControllerSpec{}.SwaggerDoc(), corev1.ReplicationControllerStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Desired", Type: "integer", Description: spec["replicas"]},
		{Name: "Current", Type: "integer", Description: status["replicas"]},
		{Name: "Ready", Type: "integer", Description: status["readyReplicas"]},
		ageColumn(),
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: spec["selector"]},
	}
}

func rcRow(rc *corev1.ReplicationController) []any {
	desired, _, _ := rcReplicas(rc)
	var containers []corev1.Container
	if rc.Spec.Template != nil {
		containers = rc.Spec.Template.Spec.Containers
	}
	names, images := containerCells(containers)
	return []any{
		rc.Name, int64(desired), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
		translateTimestampSince(rc.CreationTimestamp), names, images, labels.FormatLabels(rc.Spec.Selector),
	}
}
