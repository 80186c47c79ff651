package storageclass

import (
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// The annotations that mark the class used for claims that name none.
const (
	IsDefaultAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaIsDefaultAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// Parameters are passed to provisioners verbatim; these bounds keep a
// class object small.
const (
	maxParameters    = 512
	maxParameterSize = 256 * (1 << 10)
)

var (
	reclaimPolicies = []string{string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}
	bindingModes    = []string{string(storagev1.VolumeBindingImmediate), string(storagev1.VolumeBindingWaitForFirstConsumer)}
)

// Resources returns the storage.k8s.io/v1 resources Skiff serves.
func Resources() []registry.Resource {
	return []registry.Resource{{
		GVR:        storagev1.SchemeGroupVersion.WithResource("storageclasses"),
		Kind:       "StorageClass",
		Singular:   "storageclass",
		ShortNames: []string{"sc"},
		Strategy: registry.Strategy{
			Default:        func(obj runtime.Object) { DefaultStorageClass(obj.(*storagev1.StorageClass)) },
			Validate:       validateStorageClass,
			ValidateUpdate: validateStorageClassUpdate,
			Columns:        columns,
			Row:            row,
		},
	}}
}

// DefaultStorageClass deletes volumes with their claims and binds them as
// soon as a claim exists, unless the class says otherwise.
func DefaultStorageClass(sc *storagev1.StorageClass) {
	if sc.ReclaimPolicy == nil {
		p := corev1.PersistentVolumeReclaimDelete
		sc.ReclaimPolicy = &p
	}
	if sc.VolumeBindingMode == nil {
		m := storagev1.VolumeBindingImmediate
		sc.VolumeBindingMode = &m
	}
}

// IsDefault reports whether sc is annotated as the default class.
func IsDefault(sc *storagev1.StorageClass) bool {
	return sc.Annotations[IsDefaultAnnotation] == "true" || sc.Annotations[betaIsDefaultAnnotation] == "true"
}

func validateStorageClass(obj runtime.Object) field.ErrorList {
	sc := obj.(*storagev1.StorageClass)
	allErrs := apivalidation.ValidateObjectMeta(&sc.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	provPath := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		allErrs = append(allErrs, field.Required(provPath, ""))
	} else {
		for _, msg := range content.IsQualifiedName(strings.ToLower(sc.Provisioner)) {
			allErrs = append(allErrs, field.Invalid(provPath, sc.Provisioner, msg))
		}
	}
	allErrs = append(allErrs, validateParameters(sc.Parameters, field.NewPath("parameters"))...)
	if sc.ReclaimPolicy != nil && *sc.ReclaimPolicy != "" && !contains(reclaimPolicies, string(*sc.ReclaimPolicy)) {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("reclaimPolicy"), *sc.ReclaimPolicy, reclaimPolicies))
	}
	modePath := field.NewPath("volumeBindingMode")
	switch {
	case sc.VolumeBindingMode == nil:
		allErrs = append(allErrs, field.Required(modePath, ""))
	case !contains(bindingModes, string(*sc.VolumeBindingMode)):
		allErrs = append(allErrs, field.NotSupported(modePath, *sc.VolumeBindingMode, bindingModes))
	}
	return append(allErrs, validateAllowedTopologies(sc.AllowedTopologies, field.NewPath("allowedTopologies"))...)
}

func validateParameters(params map[string]string, fldPath *field.Path) field.ErrorList {
	if len(params) > maxParameters {
		return field.ErrorList{field.TooLong(fldPath, "Provisioner Parameters exceeded max allowed", maxParameters)}
	}
	var allErrs field.ErrorList
	size := 0
	for k, v := range params {
		if k == "" {
			allErrs = append(allErrs, field.Invalid(fldPath, k, "field can not be empty."))
		}
		size += len(k) + len(v)
	}
	if size > maxParameterSize {
		allErrs = append(allErrs, field.TooLong(fldPath, "", maxParameterSize))
	}
	return allErrs
}

// validateAllowedTopologies checks each term's label requirements and
// rejects repeated terms.
func validateAllowedTopologies(terms []corev1.TopologySelectorTerm, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	var seen []map[string][]string
	for i, term := range terms {
		termPath := fldPath.Index(i)
		exprs := map[string][]string{}
		for j, req := range term.MatchLabelExpressions {
			reqPath := termPath.Child("matchLabelExpressions").Index(j)
			allErrs = append(allErrs, metavalidation.ValidateLabelName(req.Key, reqPath.Child("key"))...)
			if len(req.Values) == 0 {
				allErrs = append(allErrs, field.Required(reqPath.Child("values"), "must specify as least one value"))
			}
			for k, v := range req.Values {
				if contains(req.Values[:k], v) {
					allErrs = append(allErrs, field.Duplicate(reqPath.Child("values").Index(k), v))
				}
			}
			exprs[req.Key] = append(exprs[req.Key], req.Values...)
		}
		for _, prev := range seen {
			if maps.EqualFunc(prev, exprs, func(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }) {
				allErrs = append(allErrs, field.Duplicate(termPath.Child("matchLabelExpressions"), ""))
			}
		}
		seen = append(seen, exprs)
	}
	return allErrs
}

// validateStorageClassUpdate keeps everything that shaped existing volumes
// fixed; labels, annotations (the default marker), mount options, topology
// and expansion may change.
func validateStorageClassUpdate(obj, old runtime.Object) field.ErrorList {
	sc, oldSC := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&sc.ObjectMeta, &oldSC.ObjectMeta, field.NewPath("metadata"))
	if !maps.Equal(sc.Parameters, oldSC.Parameters) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != oldSC.Provisioner {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if policy(sc.ReclaimPolicy) != policy(oldSC.ReclaimPolicy) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	return append(allErrs, apivalidation.ValidateImmutableField(sc.VolumeBindingMode, oldSC.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
}

func policy(p *corev1.PersistentVolumeReclaimPolicy) corev1.PersistentVolumeReclaimPolicy {
	if p == nil {
		return ""
	}
	return *p
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Provisioner", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["provisioner"]},
	{Name: "ReclaimPolicy", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["reclaimPolicy"]},
	{Name: "VolumeBindingMode", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["volumeBindingMode"]},
	{Name: "AllowVolumeExpansion", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["allowVolumeExpansion"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func row(obj runtime.Object) ([]any, error) {
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return nil, fmt.Errorf("expected *v1.StorageClass, got %T", obj)
	}
	name := sc.Name
	if IsDefault(sc) {
		name += " (default)"
	}
	reclaim := string(corev1.PersistentVolumeReclaimDelete)
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	mode := string(storagev1.VolumeBindingImmediate)
	if sc.VolumeBindingMode != nil {
		mode = string(*sc.VolumeBindingMode)
	}
	expansion := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
	age := "<unknown>"
	if !sc.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(time.Since(sc.CreationTimestamp.Time))
	}
	return []any{name, sc.Provisioner, reclaim, mode, expansion, age}, nil
}
