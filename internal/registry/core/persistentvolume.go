package core

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{
		corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod,
	}
	supportedVolumeModes    = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
	supportedReclaimPolicys = []corev1.PersistentVolumeReclaimPolicy{
		corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain,
	}
)

func persistentVolumeResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("persistentvolumes"),
		Kind:       "PersistentVolume",
		Singular:   "persistentvolume",
		ShortNames: []string{"pv"},
		HasStatus:  true,
		Strategy: registry.Strategy{
			Default: defaulter(func(pv *corev1.PersistentVolume) {
				if pv.Spec.PersistentVolumeReclaimPolicy == "" {
					pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
				}
				if pv.Spec.VolumeMode == nil {
					pv.Spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
				}
				roundUpResources(&pv.Spec.Capacity)
			}),
			PrepareForCreate: defaulter(func(pv *corev1.PersistentVolume) {
				now := metav1.Now()
				pv.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: &now}
			}),
			Validate:             validator(validatePersistentVolume),
			ValidateUpdate:       updateValidator(validatePersistentVolumeUpdate),
			ValidateStatusUpdate: updateValidator(validatePersistentVolumeStatusUpdate),
			Columns:              persistentVolumeColumns(),
			Row:                  rower(persistentVolumeRow),
			Fields: fielder(func(pv *corev1.PersistentVolume) fields.Set {
				return fields.Set{"name": pv.Name} // historical upstream selector
			}),
		},
	}
}

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateMeta(&pv.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	spec := &pv.Spec
	p := field.NewPath("spec")
	allErrs = append(allErrs, validateAccessModes(spec.AccessModes, p.Child("accessModes"), "")...)
	if len(spec.Capacity) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("capacity"), ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		allErrs = append(allErrs, field.NotSupported(p.Child("capacity"), spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedResourceNames(spec.Capacity) {
		allErrs = append(allErrs, validatePositiveQuantity(spec.Capacity[name], p.Child("capacity").Key(string(name)))...)
	}
	if spec.StorageClassName != "" {
		allErrs = append(allErrs, validateName(apivalidation.NameIsDNSSubdomain, spec.StorageClassName, p.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !contains(supportedVolumeModes, *spec.VolumeMode) {
		allErrs = append(allErrs, field.NotSupported(p.Child("volumeMode"), *spec.VolumeMode, supportedVolumeModes))
	}
	if rp := spec.PersistentVolumeReclaimPolicy; rp != "" && !contains(supportedReclaimPolicys, rp) {
		allErrs = append(allErrs, field.NotSupported(p.Child("persistentVolumeReclaimPolicy"), rp, supportedReclaimPolicys))
	}
	return append(allErrs, validatePVSource(spec, p)...)
}

// validatePVSource checks that exactly one volume source is set, and the
// sources Skiff's local provisioner uses in detail.
func validatePVSource(spec *corev1.PersistentVolumeSpec, p *field.Path) field.ErrorList {
	set := setPointerFields(&spec.PersistentVolumeSource)
	if len(set) == 0 {
		return field.ErrorList{field.Required(p, "must specify a volume type")}
	}
	var allErrs field.ErrorList
	for _, extra := range set[1:] {
		allErrs = append(allErrs, field.Forbidden(p.Child(extra), "may not specify more than 1 volume type"))
	}
	if len(allErrs) > 0 {
		return allErrs
	}
	switch {
	case spec.HostPath != nil:
		allErrs = append(allErrs, validateHostPath(spec.HostPath, p.Child("hostPath"))...)
		if path.Clean(spec.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
			allErrs = append(allErrs, field.Forbidden(p.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
		}
	case spec.Local != nil:
		if spec.Local.Path == "" {
			allErrs = append(allErrs, field.Required(p.Child("local", "path"), ""))
		}
		// A local volume lives on one node: the scheduler needs to know which.
		if spec.NodeAffinity == nil || spec.NodeAffinity.Required == nil {
			allErrs = append(allErrs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	case spec.NFS != nil:
		allErrs = append(allErrs, validateNFS(spec.NFS, p.Child("nfs"))...)
	case spec.CSI != nil:
		if spec.CSI.Driver == "" {
			allErrs = append(allErrs, field.Required(p.Child("csi", "driver"), ""))
		}
		if spec.CSI.VolumeHandle == "" {
			allErrs = append(allErrs, field.Required(p.Child("csi", "volumeHandle"), ""))
		}
	}
	return allErrs
}

// validateAccessModes is shared with claims; claimMsg is the detail
// claims add to the Required error.
func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path, requiredMsg string) field.ErrorList {
	var allErrs field.ErrorList
	if len(modes) == 0 {
		allErrs = append(allErrs, field.Required(p, requiredMsg))
	}
	rwop := false
	for _, m := range modes {
		if !contains(supportedAccessModes, m) {
			allErrs = append(allErrs, field.NotSupported(p, m, supportedAccessModes))
		}
		rwop = rwop || m == corev1.ReadWriteOncePod
	}
	// ReadWriteOncePod promises a single pod; mixing it with anything else
	// would promise more.
	if rwop && len(modes) > 1 {
		allErrs = append(allErrs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return allErrs
}

func validatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validatePersistentVolume(pv)...)
	// Where the data lives cannot change under a bound claim.
	if !equality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource) {
		d := diff.Diff(old.Spec.PersistentVolumeSource, pv.Spec.PersistentVolumeSource)
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), fmt.Sprintf("spec.persistentvolumesource is immutable after creation\n%v", d)))
	}
	allErrs = append(allErrs, validateImmutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	if old.Spec.NodeAffinity != nil && !equality.Semantic.DeepEqual(pv.Spec.NodeAffinity, old.Spec.NodeAffinity) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("nodeAffinity"), "field is immutable"))
	}
	return allErrs
}

func validatePersistentVolumeStatusUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	switch pv.Status.Phase {
	case "", corev1.VolumePending, corev1.VolumeAvailable, corev1.VolumeBound, corev1.VolumeReleased, corev1.VolumeFailed:
	default:
		valid := []corev1.PersistentVolumePhase{corev1.VolumeAvailable, corev1.VolumeBound, corev1.VolumeFailed, corev1.VolumePending, corev1.VolumeReleased}
		allErrs = append(allErrs, field.NotSupported(field.NewPath("status", "phase"), pv.Status.Phase, valid))
	}
	return allErrs
}

func persistentVolumeColumns() []metav1.TableColumnDefinition {
	spec, status := corev1.PersistentVolumeSpec{}.SwaggerDoc(), corev1.PersistentVolumeStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Capacity", Type: "string", Description: spec["capacity"]},
		{Name: "Access Modes", Type: "string", Description: spec["accessModes"]},
		{Name: "Reclaim Policy", Type: "string", Description: spec["persistentVolumeReclaimPolicy"]},
		{Name: "Status", Type: "string", Description: status["phase"]},
		{Name: "Claim", Type: "string", Description: spec["claimRef"]},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pv"},
		{Name: "VolumeAttributesClass", Type: "string", Description: "VolumeAttributesClass of the pv"},
		{Name: "Reason", Type: "string", Description: status["reason"]},
		ageColumn(),
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: spec["volumeMode"]},
	}
}

func persistentVolumeRow(pv *corev1.PersistentVolume) []any {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	storage := pv.Spec.Capacity[corev1.ResourceStorage]
	class := pv.Spec.StorageClassName
	if c, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	return []any{
		pv.Name, storage.String(), accessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase, claim, class, derefOr(pv.Spec.VolumeAttributesClassName, "<unset>"), pv.Status.Reason,
		translateTimestampSince(pv.CreationTimestamp), volumeModeString(pv.Spec.VolumeMode),
	}
}

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func volumeModeString(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

// accessModesString is upstream's fixed-order abbreviation: RWO,ROX,RWX,RWOP.
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode corev1.PersistentVolumeAccessMode
		abbr string
	}{
		{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"},
	} {
		if contains(modes, m.mode) {
			out = append(out, m.abbr)
		}
	}
	return strings.Join(out, ",")
}
