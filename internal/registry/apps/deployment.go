package apps

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/core"
)

func deploymentResource() registry.Resource {
	return registry.Resource{
		GVR:              appsv1.SchemeGroupVersion.WithResource("deployments"),
		Kind:             "Deployment",
		Singular:         "deployment",
		ShortNames:       []string{"deploy"},
		Categories:       []string{"all"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Scale: replicasScale(func(obj runtime.Object) (*int32, int32, *metav1.LabelSelector) {
			d := obj.(*appsv1.Deployment)
			return d.Spec.Replicas, d.Status.Replicas, d.Spec.Selector
		}, func(obj runtime.Object, n int32) {
			obj.(*appsv1.Deployment).Spec.Replicas = &n
		}),
		Strategy: registry.Strategy{
			Default:              func(obj runtime.Object) { DefaultDeployment(obj.(*appsv1.Deployment)) },
			Validate:             validateDeployment,
			ValidateUpdate:       validateDeploymentUpdate,
			ValidateStatusUpdate: validateDeploymentStatusUpdate,
			Columns:              deploymentColumns,
			Row:                  deploymentRow,
		},
	}
}

// DefaultDeployment applies apps/v1 defaulting: one replica, a 25%/25%
// rolling update, ten kept revisions and a ten-minute progress deadline.
func DefaultDeployment(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = ptrTo[int32](1)
	}
	s := &d.Spec.Strategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("25%"))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = ptrTo(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = ptrTo[int32](10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = ptrTo[int32](600)
	}
	core.SetDefaultsPodSpec(&d.Spec.Template.Spec)
}

func validateDeployment(obj runtime.Object) field.ErrorList {
	d := obj.(*appsv1.Deployment)
	allErrs := apivalidation.ValidateObjectMeta(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateDeploymentSpec(&d.Spec, field.NewPath("spec"))...)
}

func validateDeploymentUpdate(obj, old runtime.Object) field.ErrorList {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&d.ObjectMeta, &oldD.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateDeploymentSpec(&d.Spec, field.NewPath("spec"))...)
	// A new selector would orphan every ReplicaSet and pod of the old one.
	return append(allErrs, apivalidation.ValidateImmutableField(d.Spec.Selector, oldD.Spec.Selector, field.NewPath("spec", "selector"))...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	allErrs := nonNegative(int32Value(spec.Replicas), fldPath.Child("replicas"))
	allErrs = append(allErrs, validateWorkloadSelector(spec.Selector, "deployment", fldPath.Child("selector"))...)
	allErrs = append(allErrs, validateSelectedTemplate(&spec.Template, spec.Selector, "ReplicaSet", "invalid label selector", fldPath)...)
	allErrs = append(allErrs, validateDeploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	allErrs = append(allErrs, nonNegative(spec.MinReadySeconds, fldPath.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		// Zero is valid: keep no old ReplicaSets.
		allErrs = append(allErrs, nonNegative(*spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	}
	if spec.ProgressDeadlineSeconds != nil {
		allErrs = append(allErrs, nonNegative(*spec.ProgressDeadlineSeconds, fldPath.Child("progressDeadlineSeconds"))...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return allErrs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return append(allErrs, field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		allErrs = append(allErrs, validateRollingUpdateDeployment(s.RollingUpdate, fldPath.Child("rollingUpdate"))...)
	default:
		valid := []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)}
		allErrs = append(allErrs, field.NotSupported(fldPath, s, valid))
	}
	return allErrs
}

// validateRollingUpdateDeployment rejects a rollout that could never make
// progress: with maxSurge 0 and maxUnavailable 0 no pod may be added or
// removed. A nil field here is one the defaulter did not reach (Recreate
// turned RollingUpdate by a patch), and counts as 0 as in upstream's
// internal type.
func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, fldPath *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := intOrStringValue(ru.MaxUnavailable), intOrStringValue(ru.MaxSurge)
	allErrs := ValidatePositiveIntOrPercent(maxUnavailable, fldPath.Child("maxUnavailable"))
	allErrs = append(allErrs, ValidatePositiveIntOrPercent(maxSurge, fldPath.Child("maxSurge"))...)
	if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return append(allErrs, IsNotMoreThan100Percent(maxUnavailable, fldPath.Child("maxUnavailable"))...)
}

func intOrStringValue(p *intstr.IntOrString) intstr.IntOrString {
	if p == nil {
		return intstr.FromInt32(0)
	}
	return *p
}

func validateDeploymentStatusUpdate(obj, old runtime.Object) field.ErrorList {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&d.ObjectMeta, &oldD.ObjectMeta, field.NewPath("metadata"))
	fldPath := field.NewPath("status")
	st := &d.Status
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(st.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	allErrs = append(allErrs, nonNegative(st.Replicas, fldPath.Child("replicas"))...)
	allErrs = append(allErrs, nonNegative(st.UpdatedReplicas, fldPath.Child("updatedReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.ReadyReplicas, fldPath.Child("readyReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.AvailableReplicas, fldPath.Child("availableReplicas"))...)
	allErrs = append(allErrs, nonNegative(st.UnavailableReplicas, fldPath.Child("unavailableReplicas"))...)
	if st.CollisionCount != nil {
		allErrs = append(allErrs, nonNegative(*st.CollisionCount, fldPath.Child("collisionCount"))...)
	}
	const msg = "cannot be greater than status.replicas"
	if st.UpdatedReplicas > st.Replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("updatedReplicas"), st.UpdatedReplicas, msg))
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
	return append(allErrs, validateCollisionCount(st.CollisionCount, oldD.Status.CollisionCount, fldPath.Child("collisionCount"))...)
}

var deploymentColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
	{Name: "Up-to-date", Type: "string", Description: extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
	{Name: "Available", Type: "string", Description: extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
	ageColumn,
	containersColumn,
	imagesColumn,
	{Name: "Selector", Type: "string", Priority: 1, Description: extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"]},
}

func deploymentRow(obj runtime.Object) ([]any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Deployment, got %T", obj)
	}
	// Upstream prints this selector in its parsed form ("app=x"), unlike
	// the other workloads which use FormatLabelSelector.
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []any{
		d.Name,
		fmt.Sprintf("%d/%d", int64(d.Status.ReadyReplicas), int64(int32Value(d.Spec.Replicas))),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp),
		names, images, selector,
	}, nil
}

func ptrTo[T any](v T) *T { return &v }
