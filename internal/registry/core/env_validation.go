package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Field paths the downward API exposes, as upstream lists them.
var (
	envFieldPaths = []string{
		"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
		"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
	}
	volumeFieldPaths = []string{
		"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
	}
	resourceFieldPaths = []string{
		"limits.cpu", "limits.ephemeral-storage", "limits.memory",
		"requests.cpu", "requests.ephemeral-storage", "requests.memory",
	}
)

func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ev := range vars {
		idxPath := fldPath.Index(i)
		if ev.Name == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		} else {
			// Relaxed names (any printable ASCII but '=') are GA upstream.
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), ev.Name, msg))
			}
		}
		allErrs = append(allErrs, validateEnvValueFrom(ev, idxPath.Child("valueFrom"))...)
	}
	return allErrs
}

func validateEnvValueFrom(ev corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	if vf == nil {
		return nil
	}
	var allErrs field.ErrorList
	n := 0
	if vf.FieldRef != nil {
		n++
		allErrs = append(allErrs, validateFieldSelector(vf.FieldRef, envFieldPaths, fldPath.Child("fieldRef"))...)
	}
	if vf.ResourceFieldRef != nil {
		n++
		allErrs = append(allErrs, validateResourceFieldSelector(vf.ResourceFieldRef, false, fldPath.Child("resourceFieldRef"))...)
	}
	if vf.ConfigMapKeyRef != nil {
		n++
		allErrs = append(allErrs, validateKeySelector(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if vf.SecretKeyRef != nil {
		n++
		allErrs = append(allErrs, validateKeySelector(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, fldPath.Child("secretKeyRef"))...)
	}
	if vf.FileKeyRef != nil {
		n++
	}
	switch {
	case n == 0:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	case n > 1:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return allErrs
}

func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	allErrs := validateName(apivalidation.NameIsDNSSubdomain, name, fldPath.Child("name"))
	if key == "" {
		return append(allErrs, field.Required(fldPath.Child("key"), ""))
	}
	for _, msg := range validation.IsConfigMapKey(key) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("key"), key, msg))
	}
	return allErrs
}

// validateFieldSelector checks a downward API field reference; labels and
// annotations may also be selected one key at a time with a subscript.
func validateFieldSelector(fs *corev1.ObjectFieldSelector, allowed []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if fs.APIVersion == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("apiVersion"), ""))
	}
	if fs.FieldPath == "" {
		return append(allErrs, field.Required(fldPath.Child("fieldPath"), ""))
	}
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return append(allErrs, field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath,
			fmt.Sprintf("error converting fieldPath: unsupported pod version: %s", fs.APIVersion)))
	}
	if p, sub, ok := splitSubscript(fs.FieldPath); ok {
		switch p {
		case "metadata.annotations", "metadata.labels":
			allErrs = append(allErrs, validateQualifiedName(strings.ToLower(sub), fldPath.Child("fieldPath"))...)
		default:
			allErrs = append(allErrs, field.Invalid(fldPath.Child("fieldPath"), p, "does not support subscript"))
		}
		return allErrs
	}
	for _, a := range allowed {
		if a == fs.FieldPath {
			return allErrs
		}
	}
	return append(allErrs, field.NotSupported(fldPath.Child("fieldPath"), fs.FieldPath, allowed))
}

// splitSubscript splits "metadata.labels['app']" into its path and key.
func splitSubscript(fieldPath string) (path, subscript string, ok bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	path, rest, found := strings.Cut(fieldPath, "['")
	if !found {
		return fieldPath, "", false
	}
	return path, strings.TrimSuffix(rest, "']"), true
}

func validateResourceFieldSelector(fs *corev1.ResourceFieldSelector, containerRequired bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if containerRequired && fs.ContainerName == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("containerName"), ""))
	}
	if fs.Resource == "" {
		return append(allErrs, field.Required(fldPath.Child("resource"), ""))
	}
	known := strings.HasPrefix(fs.Resource, "limits.hugepages-") || strings.HasPrefix(fs.Resource, "requests.hugepages-")
	for _, r := range resourceFieldPaths {
		known = known || r == fs.Resource
	}
	if !known {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("resource"), fs.Resource, resourceFieldPaths))
	}
	if fs.Divisor.Sign() < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("divisor"), fs.Divisor.String(), isNegativeErrorMsg))
	}
	return allErrs
}

func validateEnvFrom(sources []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, s := range sources {
		idxPath := fldPath.Index(i)
		if s.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(s.Prefix) {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("prefix"), s.Prefix, msg))
			}
		}
		n := 0
		if s.ConfigMapRef != nil {
			n++
			allErrs = append(allErrs, validateEnvSourceName(s.ConfigMapRef.Name, idxPath.Child("configMapRef"))...)
		}
		if s.SecretRef != nil {
			n++
			allErrs = append(allErrs, validateEnvSourceName(s.SecretRef.Name, idxPath.Child("secretRef"))...)
		}
		switch {
		case n == 0:
			allErrs = append(allErrs, field.Invalid(fldPath, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			allErrs = append(allErrs, field.Forbidden(fldPath, "may not have more than one field specified at a time"))
		}
	}
	return allErrs
}

func validateEnvSourceName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath.Child("name"), "")}
	}
	return validateName(apivalidation.NameIsDNSSubdomain, name, fldPath.Child("name"))
}
