package core

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// SetDefaultsPodSpec fills a pod spec's unset fields as upstream does
// (restartPolicy, dnsPolicy, terminationGracePeriodSeconds, schedulerName,
// container terminationMessagePath/Policy, imagePullPolicy, probe timings,
// protocol TCP on ports, ...). Workload templates share it.
//
// It deliberately leaves out what upstream defaults only on Pods
// (enableServiceLinks, requests copied from limits): templates stored in
// Deployments and the like must look the same as upstream's.
func SetDefaultsPodSpec(spec *corev1.PodSpec) {
	if spec == nil {
		return
	}
	defaultPodSpec(spec)
}

// ValidatePodTemplateSpec validates a workload's pod template: its labels and
// its pod spec. Workload controllers' strategies share it.
func ValidatePodTemplateSpec(tmpl *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	if tmpl == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	// Upstream roots these at the template itself (template.labels), not at
	// template.metadata.labels; kept for identical error paths.
	allErrs := metav1validation.ValidateLabels(tmpl.Labels, fldPath.Child("labels"))
	allErrs = append(allErrs, apivalidation.ValidateAnnotations(tmpl.Annotations, fldPath.Child("annotations"))...)
	allErrs = append(allErrs, validatePodSpec(&tmpl.Spec, fldPath.Child("spec"))...)
	if len(tmpl.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return allErrs
}

// podTemplateResource serves core/v1 podtemplates, which nothing in Skiff
// consumes but some charts create.
func podTemplateResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("podtemplates"),
		Kind:       "PodTemplate",
		Singular:   "podtemplate",
		Namespaced: true,
		Strategy: registry.Strategy{
			Default: defaulter(func(t *corev1.PodTemplate) { SetDefaultsPodSpec(&t.Template.Spec) }),
			Validate: validator(func(t *corev1.PodTemplate) field.ErrorList {
				errs := validateMeta(&t.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
				return append(errs, ValidatePodTemplateSpec(&t.Template, field.NewPath("template"))...)
			}),
			ValidateUpdate: updateValidator(func(t, old *corev1.PodTemplate) field.ErrorList {
				errs := validateMetaUpdate(&t.ObjectMeta, &old.ObjectMeta)
				return append(errs, ValidatePodTemplateSpec(&t.Template, field.NewPath("template"))...)
			}),
			Columns: []metav1.TableColumnDefinition{
				nameColumn(),
				{Name: "Containers", Type: "string", Description: "Names of each container in the template."},
				{Name: "Images", Type: "string", Description: "Images referenced by each container in the template."},
				{Name: "Pod Labels", Type: "string", Description: "The labels for the pod template."},
			},
			Row: rower(func(t *corev1.PodTemplate) []any {
				names, images := containerCells(t.Template.Spec.Containers)
				return []any{t.Name, names, images, labels.FormatLabels(t.Template.Labels)}
			}),
		},
	}
}

// containerCells lays out container names and images for the wide
// CONTAINERS and IMAGES columns.
func containerCells(containers []corev1.Container) (names, images string) {
	for i, c := range containers {
		if i > 0 {
			names += ","
			images += ","
		}
		names += c.Name
		images += c.Image
	}
	return names, images
}
