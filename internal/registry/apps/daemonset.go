package apps

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/core"
)

func daemonSetResource() registry.Resource {
	return registry.Resource{
		GVR:              appsv1.SchemeGroupVersion.WithResource("daemonsets"),
		Kind:             "DaemonSet",
		Singular:         "daemonset",
		ShortNames:       []string{"ds"},
		Categories:       []string{"all"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Strategy: registry.Strategy{
			Default:              func(obj runtime.Object) { DefaultDaemonSet(obj.(*appsv1.DaemonSet)) },
			PrepareForCreate:     prepareDaemonSetForCreate,
			PrepareForUpdate:     prepareDaemonSetForUpdate,
			Validate:             validateDaemonSet,
			ValidateUpdate:       validateDaemonSetUpdate,
			ValidateStatusUpdate: validateDaemonSetStatusUpdate,
			Columns:              daemonSetColumns,
			Row:                  daemonSetRow,
		},
	}
}

// DefaultDaemonSet applies apps/v1 defaulting: a rolling update replacing
// one node's pod at a time without surge, and ten kept revisions.
func DefaultDaemonSet(ds *appsv1.DaemonSet) {
	s := &ds.Spec.UpdateStrategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if s.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromInt32(1))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = ptrTo[int32](10)
	}
	core.SetDefaultsPodSpec(&ds.Spec.Template.Spec)
}

// templateGeneration reads the v1 form of upstream's internal
// spec.templateGeneration; a missing or unparsable value reads as 0.
func templateGeneration(ds *appsv1.DaemonSet) int64 {
	n, err := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func setTemplateGeneration(ds *appsv1.DaemonSet, n int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(n, 10)
}

// prepareDaemonSetForCreate starts the template generation at 1 unless the
// client supplied a valid one, which upstream keeps.
func prepareDaemonSetForCreate(obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	ds.Status = appsv1.DaemonSetStatus{}
	setTemplateGeneration(ds, max(templateGeneration(ds), 1))
}

// prepareDaemonSetForUpdate keeps the template generation out of clients'
// hands: it is the stored value, plus one when the template changed. Old
// pods' generation label is compared against it by the controller.
func prepareDaemonSetForUpdate(obj, old runtime.Object) {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	gen := templateGeneration(oldDS)
	if !apiequality.Semantic.DeepEqual(ds.Spec.Template, oldDS.Spec.Template) {
		gen++
	}
	setTemplateGeneration(ds, gen)
}

func validateDaemonSet(obj runtime.Object) field.ErrorList {
	ds := obj.(*appsv1.DaemonSet)
	allErrs := apivalidation.ValidateObjectMeta(&ds.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateDaemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
}

func validateDaemonSetUpdate(obj, old runtime.Object) field.ErrorList {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ds.ObjectMeta, &oldDS.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateDaemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
	return append(allErrs, apivalidation.ValidateImmutableField(ds.Spec.Selector, oldDS.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// validateDaemonSetSpec follows upstream's order and quirks: a nil
// selector is not "required" here, it simply selects nothing and so fails
// the template match.
func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := metavalidation.ValidateLabelSelector(spec.Selector, strictSelector, fldPath.Child("selector"))
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, selectorMismatch))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}
	allErrs = append(allErrs, core.ValidatePodTemplateSpec(&spec.Template, fldPath.Child("template"))...)
	allErrs = append(allErrs, validateAlwaysRestart(&spec.Template.Spec, "DaemonSet", fldPath.Child("template", "spec"))...)
	allErrs = append(allErrs, nonNegative(spec.MinReadySeconds, fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		allErrs = append(allErrs, nonNegative(*spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	}
	return allErrs
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdateDaemonSet(s.RollingUpdate, fldPath.Child("rollingUpdate"))
	}
	valid := []string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)}
	return field.ErrorList{field.NotSupported(fldPath, *s, valid)}
}

// validateRollingUpdateDaemonSet requires exactly one of maxSurge and
// maxUnavailable to be non-zero: a node either gets its new pod before
// the old one goes (surge) or after (unavailable), never both, and a
// rollout with neither could not progress.
func validateRollingUpdateDaemonSet(ru *appsv1.RollingUpdateDaemonSet, fldPath *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := intOrStringValue(ru.MaxUnavailable), intOrStringValue(ru.MaxSurge)
	allErrs := ValidatePositiveIntOrPercent(maxUnavailable, fldPath.Child("maxUnavailable"))
	allErrs = append(allErrs, ValidatePositiveIntOrPercent(maxSurge, fldPath.Child("maxSurge"))...)
	allErrs = append(allErrs, IsNotMoreThan100Percent(maxUnavailable, fldPath.Child("maxUnavailable"))...)
	allErrs = append(allErrs, IsNotMoreThan100Percent(maxSurge, fldPath.Child("maxSurge"))...)
	hasUnavailable, hasSurge := intOrPercentValue(maxUnavailable) != 0, intOrPercentValue(maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		allErrs = append(allErrs, field.Required(fldPath.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return allErrs
}

func validateDaemonSetStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&ds.ObjectMeta, &oldDS.ObjectMeta, field.NewPath("metadata"))
	fldPath := field.NewPath("status")
	st := &ds.Status
	for _, c := range []struct {
		name  string
		value int32
	}{
		{"currentNumberScheduled", st.CurrentNumberScheduled},
		{"numberMisscheduled", st.NumberMisscheduled},
		{"desiredNumberScheduled", st.DesiredNumberScheduled},
		{"numberReady", st.NumberReady},
	} {
		allErrs = append(allErrs, nonNegative(c.value, fldPath.Child(c.name))...)
	}
	allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(st.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	allErrs = append(allErrs, nonNegative(st.UpdatedNumberScheduled, fldPath.Child("updatedNumberScheduled"))...)
	allErrs = append(allErrs, nonNegative(st.NumberAvailable, fldPath.Child("numberAvailable"))...)
	allErrs = append(allErrs, nonNegative(st.NumberUnavailable, fldPath.Child("numberUnavailable"))...)
	if st.CollisionCount != nil {
		allErrs = append(allErrs, nonNegative(*st.CollisionCount, fldPath.Child("collisionCount"))...)
	}
	return append(allErrs, validateCollisionCount(st.CollisionCount, oldDS.Status.CollisionCount, fldPath.Child("collisionCount"))...)
}

var daemonSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Desired", Type: "integer", Description: extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]},
	{Name: "Current", Type: "integer", Description: extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]},
	{Name: "Ready", Type: "integer", Description: extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]},
	{Name: "Up-to-date", Type: "integer", Description: extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]},
	{Name: "Available", Type: "integer", Description: extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]},
	{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
	ageColumn,
	containersColumn,
	imagesColumn,
	{Name: "Selector", Type: "string", Priority: 1, Description: extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"]},
}

func daemonSetRow(obj runtime.Object) ([]any, error) {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return nil, fmt.Errorf("expected *v1.DaemonSet, got %T", obj)
	}
	st := &ds.Status
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []any{
		ds.Name,
		int64(st.DesiredNumberScheduled),
		int64(st.CurrentNumberScheduled),
		int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled),
		int64(st.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		age(ds.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
	}, nil
}
