package apps

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/core"
)

func replicaSetResource() registry.Resource {
	return registry.Resource{
		GVR:              appsv1.SchemeGroupVersion.WithResource("replicasets"),
		Kind:             "ReplicaSet",
		Singular:         "replicaset",
		ShortNames:       []string{"rs"},
		Categories:       []string{"all"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Scale: replicasScale(func(obj runtime.Object) (*int32, int32, *metav1.LabelSelector) {
			rs := obj.(*appsv1.ReplicaSet)
			return rs.Spec.Replicas, rs.Status.Replicas, rs.Spec.Selector
		}, func(obj runtime.Object, n int32) {
			obj.(*appsv1.ReplicaSet).Spec.Replicas = &n
		}),
		Strategy: registry.Strategy{
			Default:              func(obj runtime.Object) { DefaultReplicaSet(obj.(*appsv1.ReplicaSet)) },
			Validate:             validateReplicaSet,
			ValidateUpdate:       validateReplicaSetUpdate,
			ValidateStatusUpdate: validateReplicaSetStatusUpdate,
			Columns:              replicaSetColumns,
			Row:                  replicaSetRow,
			Fields:               replicaSetFields,
		},
	}
}

// DefaultReplicaSet applies apps/v1 defaulting: one replica.
func DefaultReplicaSet(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptrTo[int32](1)
	}
	core.SetDefaultsPodSpec(&rs.Spec.Template.Spec)
}

func validateReplicaSet(obj runtime.Object) field.ErrorList {
	rs := obj.(*appsv1.ReplicaSet)
	allErrs := apivalidation.ValidateObjectMeta(&rs.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
}

func validateReplicaSetUpdate(obj, old runtime.Object) field.ErrorList {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&rs.ObjectMeta, &oldRS.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
	return append(allErrs, apivalidation.ValidateImmutableField(rs.Spec.Selector, oldRS.Spec.Selector, field.NewPath("spec", "selector"))...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := nonNegative(int32Value(spec.Replicas), fldPath.Child("replicas"))
	allErrs = append(allErrs, nonNegative(spec.MinReadySeconds, fldPath.Child("minReadySeconds"))...)
	// Upstream names "deployment" in this message for ReplicaSets too.
	allErrs = append(allErrs, validateWorkloadSelector(spec.Selector, "deployment", fldPath.Child("selector"))...)
	return append(allErrs, validateSelectedTemplate(&spec.Template, spec.Selector, "ReplicaSet", "invalid label selector", fldPath)...)
}

func validateReplicaSetStatusUpdate(obj, old runtime.Object) field.ErrorList {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&rs.ObjectMeta, &oldRS.ObjectMeta, field.NewPath("metadata"))
	fldPath := field.NewPath("status")
	st := &rs.Status
	allErrs = append(allErrs, nonNegative(st.Replicas, fldPath.Child("replicas"))...)
	allErrs = append(allErrs, nonNegative(st.FullyLabeledReplicas, fldPath.Child("fullyLabeledReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.ReadyReplicas, fldPath.Child("readyReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.AvailableReplicas, fldPath.Child("availableReplicas"))...)
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(st.ObservedGeneration, fldPath.Child("observedGeneration"))...)
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

// replicaSetFields adds the one extra field selector upstream supports.
func replicaSetFields(obj runtime.Object) fields.Set {
	rs := obj.(*appsv1.ReplicaSet)
	return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
}

var replicaSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Desired", Type: "integer", Description: extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
	{Name: "Current", Type: "integer", Description: extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
	{Name: "Ready", Type: "integer", Description: extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
	ageColumn,
	containersColumn,
	imagesColumn,
	{Name: "Selector", Type: "string", Priority: 1, Description: extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["selector"]},
}

func replicaSetRow(obj runtime.Object) ([]any, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil, fmt.Errorf("expected *v1.ReplicaSet, got %T", obj)
	}
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []any{
		rs.Name,
		int64(int32Value(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	}, nil
}
