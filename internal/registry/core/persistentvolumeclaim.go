package core

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func persistentVolumeClaimResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("persistentvolumeclaims"),
		Kind:       "PersistentVolumeClaim",
		Singular:   "persistentvolumeclaim",
		ShortNames: []string{"pvc"},
		Namespaced: true,
		HasStatus:  true,
		Strategy: registry.Strategy{
			Default: defaulter(func(pvc *corev1.PersistentVolumeClaim) { defaultPVCSpec(&pvc.Spec) }),
			PrepareForCreate: defaulter(func(pvc *corev1.PersistentVolumeClaim) {
				pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			}),
			Validate: validator(func(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
				errs := validateMeta(&pvc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
				return append(errs, validatePVCSpec(&pvc.Spec, field.NewPath("spec"))...)
			}),
			ValidateUpdate:       updateValidator(validatePVCUpdate),
			ValidateStatusUpdate: updateValidator(validatePVCStatusUpdate),
			Columns:              pvcColumns(),
			Row:                  rower(pvcRow),
			Fields: fielder(func(pvc *corev1.PersistentVolumeClaim) fields.Set {
				return fields.Set{"name": pvc.Name} // historical upstream selector
			}),
		},
	}
}

// validatePVCSpec is shared by claims and ephemeral volume templates.
func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"), "at least 1 access mode is required")
	if spec.Selector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		allErrs = append(allErrs, field.Required(storagePath, ""))
	} else if errs := validatePositiveQuantity(q, storagePath); len(errs) > 0 {
		allErrs = append(allErrs, errs...)
	} else {
		allErrs = append(allErrs, validateResourceQuantityValue(corev1.ResourceStorage, q, storagePath)...)
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		allErrs = append(allErrs, validateName(apivalidation.NameIsDNSSubdomain, *spec.StorageClassName, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !contains(supportedVolumeModes, *spec.VolumeMode) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, supportedVolumeModes))
	}
	return allErrs
}

// validatePVCUpdate: a claim's spec is fixed after creation (quota was
// charged for it), except that the binder sets volumeName once and a bound
// claim may grow (or, recovering from a failed expansion, shrink back to
// above its current capacity).
func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateMeta(&pvc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)...)
	allErrs = append(allErrs, validatePVCSpec(&pvc.Spec, field.NewPath("spec"))...)

	newSpec, oldSpec := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	if old.Spec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	// Setting a class on a claim that had none (the default class admission
	// does this) is allowed once.
	if old.Spec.StorageClassName == nil && old.Annotations[corev1.BetaStorageClassAnnotation] == "" {
		oldSpec.StorageClassName = newSpec.StorageClassName
	}
	if pvc.Status.Phase == corev1.ClaimBound && newSpec.Resources.Requests != nil {
		newSpec.Resources.Requests[corev1.ResourceStorage] = old.Spec.Resources.Requests[corev1.ResourceStorage]
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		msg := fmt.Sprintf("spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff.Diff(oldSpec, newSpec))
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), msg))
	}
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	oldSize := old.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := old.Status.Capacity[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 && newSize.Cmp(capacity) <= 0 {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	allErrs = append(allErrs, validateImmutable(pvc.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	return allErrs
}

func validatePVCStatusUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	capPath := field.NewPath("status", "capacity")
	for _, name := range sortedResourceNames(pvc.Status.Capacity) {
		allErrs = append(allErrs, validateResourceQuantityValue(name, pvc.Status.Capacity[name], capPath.Key(string(name)))...)
	}
	if len(pvc.Spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(field.NewPath("Spec", "accessModes"), ""))
	}
	return allErrs
}

func pvcColumns() []metav1.TableColumnDefinition {
	spec, status := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc(), corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Status", Type: "string", Description: status["phase"]},
		{Name: "Volume", Type: "string", Description: spec["volumeName"]},
		{Name: "Capacity", Type: "string", Description: status["capacity"]},
		{Name: "Access Modes", Type: "string", Description: status["accessModes"]},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pvc"},
		{Name: "VolumeAttributesClass", Type: "string", Description: "VolumeAttributesClass of the pvc"},
		ageColumn(),
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: spec["volumeMode"]},
	}
}

func pvcRow(pvc *corev1.PersistentVolumeClaim) []any {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity, modes := "", ""
	// Capacity and modes are what the bound volume provides, so they show
	// only once bound.
	if pvc.Spec.VolumeName != "" {
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity, modes = q.String(), accessModesString(pvc.Status.AccessModes)
	}
	class := derefOr(pvc.Spec.StorageClassName, "")
	if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	return []any{
		pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class,
		derefOr(pvc.Spec.VolumeAttributesClassName, "<unset>"), translateTimestampSince(pvc.CreationTimestamp),
		volumeModeString(pvc.Spec.VolumeMode),
	}
}
