package core

import (
	"path"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateVolumes checks pod volumes and returns the valid ones by name,
// for checking volume mounts against. A volume with errors is left out,
// so mounts of it report NotFound as upstream's do.
func validateVolumes(volumes []corev1.Volume, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	valid := map[string]corev1.VolumeSource{}
	seen := map[string]bool{}
	for i := range volumes {
		v := &volumes[i]
		idxPath := fldPath.Index(i)
		errs := validateVolumeSource(&v.VolumeSource, idxPath)
		if v.Name == "" {
			errs = append(errs, field.Required(idxPath.Child("name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(v.Name, idxPath.Child("name"))...)
		}
		if seen[v.Name] {
			errs = append(errs, field.Duplicate(idxPath.Child("name"), v.Name))
		}
		seen[v.Name] = true
		if len(errs) == 0 {
			valid[v.Name] = v.VolumeSource
		}
		allErrs = append(allErrs, errs...)
	}
	return valid, allErrs
}

// setPointerFields returns the JSON names of the non-nil pointer fields of
// a struct (a VolumeSource or PersistentVolumeSource), in declaration
// order. Reflection keeps the "exactly one source" rule right for sources
// added to k8s.io/api later.
func setPointerFields(structPtr any) []string {
	var names []string
	v := reflect.ValueOf(structPtr).Elem()
	t := v.Type()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			names = append(names, name)
		}
	}
	return names
}

func validateVolumeSource(vs *corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	set := setPointerFields(vs)
	if len(set) == 0 {
		return field.ErrorList{field.Required(fldPath, "must specify a volume type")}
	}
	var allErrs field.ErrorList
	for _, extra := range set[1:] {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child(extra), "may not specify more than 1 volume type"))
	}
	if len(allErrs) > 0 {
		return allErrs
	}
	p := fldPath.Child(set[0])
	switch {
	case vs.HostPath != nil:
		return validateHostPath(vs.HostPath, p)
	case vs.EmptyDir != nil:
		if sl := vs.EmptyDir.SizeLimit; sl != nil && sl.Sign() < 0 {
			return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
		}
	case vs.Secret != nil:
		if vs.Secret.SecretName == "" {
			allErrs = append(allErrs, field.Required(p.Child("secretName"), ""))
		}
		allErrs = append(allErrs, validateFileMode(vs.Secret.DefaultMode, p.Child("defaultMode"))...)
		return append(allErrs, validateKeyToPaths(vs.Secret.Items, p.Child("items"))...)
	case vs.ConfigMap != nil:
		if vs.ConfigMap.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		}
		allErrs = append(allErrs, validateFileMode(vs.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		return append(allErrs, validateKeyToPaths(vs.ConfigMap.Items, p.Child("items"))...)
	case vs.PersistentVolumeClaim != nil:
		if vs.PersistentVolumeClaim.ClaimName == "" {
			return field.ErrorList{field.Required(p.Child("claimName"), "")}
		}
	case vs.DownwardAPI != nil:
		allErrs = append(allErrs, validateFileMode(vs.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		return append(allErrs, validateDownwardAPIFiles(vs.DownwardAPI.Items, p)...)
	case vs.Projected != nil:
		return validateProjected(vs.Projected, p)
	case vs.NFS != nil:
		return validateNFS(vs.NFS, p)
	case vs.CSI != nil:
		if vs.CSI.Driver == "" {
			return field.ErrorList{field.Required(p.Child("driver"), "")}
		}
	case vs.Ephemeral != nil:
		if vs.Ephemeral.VolumeClaimTemplate == nil {
			return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
		}
		return validatePVCSpec(&vs.Ephemeral.VolumeClaimTemplate.Spec, p.Child("volumeClaimTemplate", "spec"))
	case vs.Image != nil:
		if vs.Image.Reference == "" {
			return field.ErrorList{field.Required(p.Child("reference"), "")}
		}
	}
	return nil
}

var supportedHostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
	corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
}

func validateHostPath(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if hp.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	} else {
		// A path may not climb out of where it names.
		for _, item := range strings.Split(hp.Path, "/") {
			if item == ".." {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), hp.Path, "must not contain '..'"))
				break
			}
		}
	}
	if hp.Type != nil {
		known := false
		for _, t := range supportedHostPathTypes {
			known = known || t == *hp.Type
		}
		if !known {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), *hp.Type, supportedHostPathTypes))
		}
	}
	return allErrs
}

func validateNFS(nfs *corev1.NFSVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if nfs.Server == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("server"), ""))
	}
	if nfs.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	} else if !path.IsAbs(nfs.Path) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return allErrs
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, kp := range items {
		idxPath := fldPath.Index(i)
		if kp.Key == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("key"), ""))
		}
		if kp.Path == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("path"), ""))
		}
		allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, idxPath.Child("path"))...)
		allErrs = append(allErrs, validateFileMode(kp.Mode, idxPath.Child("mode"))...)
	}
	return allErrs
}

func validateDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, f := range items {
		idxPath := fldPath.Child("items").Index(i)
		if f.Path == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("path"), ""))
		}
		allErrs = append(allErrs, validateLocalNonReservedPath(f.Path, idxPath.Child("path"))...)
		allErrs = append(allErrs, validateFileMode(f.Mode, idxPath.Child("mode"))...)
		switch {
		case f.FieldRef != nil && f.ResourceFieldRef != nil:
			allErrs = append(allErrs, field.Invalid(idxPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case f.FieldRef != nil:
			allErrs = append(allErrs, validateFieldSelector(f.FieldRef, volumeFieldPaths, idxPath.Child("fieldRef"))...)
		case f.ResourceFieldRef != nil:
			allErrs = append(allErrs, validateResourceFieldSelector(f.ResourceFieldRef, true, idxPath.Child("resourceFieldRef"))...)
		default:
			allErrs = append(allErrs, field.Required(idxPath, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return allErrs
}

func validateProjected(pv *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateFileMode(pv.DefaultMode, fldPath.Child("defaultMode"))
	for i, s := range pv.Sources {
		srcPath := fldPath.Child("sources").Index(i)
		n := 0
		note := func(name string) bool {
			n++
			if n > 1 {
				allErrs = append(allErrs, field.Forbidden(srcPath.Child(name), "may not specify more than 1 volume type per source"))
				return false
			}
			return true
		}
		if s.Secret != nil && note("secret") {
			allErrs = append(allErrs, validateKeyToPaths(s.Secret.Items, srcPath.Child("secret", "items"))...)
		}
		if s.ConfigMap != nil && note("configMap") {
			allErrs = append(allErrs, validateKeyToPaths(s.ConfigMap.Items, srcPath.Child("configMap", "items"))...)
		}
		if s.DownwardAPI != nil && note("downwardAPI") {
			allErrs = append(allErrs, validateDownwardAPIFiles(s.DownwardAPI.Items, srcPath.Child("downwardAPI"))...)
		}
		if s.ServiceAccountToken != nil && note("serviceAccountToken") {
			allErrs = append(allErrs, validateTokenProjection(s.ServiceAccountToken, srcPath.Child("serviceAccountToken"))...)
		}
		if s.ClusterTrustBundle != nil {
			note("clusterTrustBundle")
		}
		if s.PodCertificate != nil {
			note("podCertificate")
		}
	}
	return allErrs
}

func validateTokenProjection(t *corev1.ServiceAccountTokenProjection, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if t.ExpirationSeconds != nil {
		// Upstream allows ten minutes up to 2^32 seconds.
		if *t.ExpirationSeconds < 600 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
		}
		if *t.ExpirationSeconds > 1<<32 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
		}
	}
	if t.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	return allErrs
}
