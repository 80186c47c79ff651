package core

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func configMapResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("configmaps"),
		Kind:       "ConfigMap",
		Singular:   "configmap",
		ShortNames: []string{"cm"},
		Namespaced: true,
		Strategy: registry.Strategy{
			Default: defaulter(func(cm *corev1.ConfigMap) {
				if cm.Data == nil {
					cm.Data = map[string]string{}
				}
			}),
			Validate:       validator(validateConfigMap),
			ValidateUpdate: updateValidator(validateConfigMapUpdate),
			Columns: []metav1.TableColumnDefinition{
				nameColumn(),
				{Name: "Data", Type: "string", Description: corev1.ConfigMap{}.SwaggerDoc()["data"]},
				ageColumn(),
			},
			Row: rower(func(cm *corev1.ConfigMap) []any {
				return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), translateTimestampSince(cm.CreationTimestamp)}
			}),
		},
	}
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	allErrs := validateMeta(&cm.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	total := 0
	for key, value := range cm.Data {
		p := field.NewPath("data").Key(key)
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(p, key, msg))
		}
		// Both bags become files in one directory: a key may be in one only.
		if _, dup := cm.BinaryData[key]; dup {
			allErrs = append(allErrs, field.Invalid(p, key, "duplicate of key present in binaryData"))
		}
		total += len(value)
	}
	for key, value := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("binaryData").Key(key), key, msg))
		}
		total += len(value)
	}
	if total > corev1.MaxSecretSize {
		// The empty path means the error is about the whole object.
		allErrs = append(allErrs, field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize))
	}
	return allErrs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	allErrs := validateMetaUpdate(&cm.ObjectMeta, &old.ObjectMeta)
	if old.Immutable != nil && *old.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), immutableWhenSetMsg))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), immutableWhenSetMsg))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("binaryData"), immutableWhenSetMsg))
		}
	}
	return append(allErrs, validateConfigMap(cm)...)
}
