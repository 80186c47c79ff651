package apps

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/core"
)

// selectorMismatch is upstream's detail when a workload's selector does not
// select its own pod template; clients and tests match on it verbatim.
const selectorMismatch = "`selector` does not match template `labels`"

// strictSelector validates selectors the way apps/v1 always has: label
// values in a selector must be valid label values.
var strictSelector = metavalidation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: false}

// validateWorkloadSelector checks a required, non-empty selector. kind
// names the workload in upstream's "empty selector is invalid for ..."
// message (upstream says "deployment" for replicasets too).
func validateWorkloadSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := metavalidation.ValidateLabelSelector(sel, strictSelector, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
	}
	return allErrs
}

// validateSelectedTemplate checks that the spec's selector selects its
// template and that the template is a valid long-running pod (restartPolicy
// Always, no activeDeadlineSeconds). kind appears in the
// activeDeadlineSeconds message.
func validateSelectedTemplate(tmpl *corev1.PodTemplateSpec, sel *metav1.LabelSelector, kind, invalidSelectorMsg string, specPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(allErrs, field.Invalid(specPath.Child("selector"), sel, invalidSelectorMsg))
	}
	fldPath := specPath.Child("template")
	if !selector.Empty() && !selector.Matches(labels.Set(tmpl.Labels)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("metadata", "labels"), tmpl.Labels, selectorMismatch))
	}
	allErrs = append(allErrs, core.ValidatePodTemplateSpec(tmpl, fldPath)...)
	allErrs = append(allErrs, validateAlwaysRestart(&tmpl.Spec, kind, fldPath.Child("spec"))...)
	return allErrs
}

// validateAlwaysRestart enforces what every apps workload needs from its
// pods: they run forever and are never deadline-killed.
func validateAlwaysRestart(spec *corev1.PodSpec, kind string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("restartPolicy"), spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return allErrs
}

func nonNegative(v int32, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(int64(v), fldPath)
}

// ValidatePositiveIntOrPercent checks that v is a non-negative integer or a
// well-formed percentage. Exported because policy/v1 PodDisruptionBudgets
// reuse it, as upstream's policy validation does.
func ValidatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			allErrs = append(allErrs, field.Invalid(fldPath, v, msg))
		}
	case intstr.Int:
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(v.IntValue()), fldPath)...)
	default:
		// The doubled percent sign is upstream's literal text.
		allErrs = append(allErrs, field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%%')"))
	}
	return allErrs
}

// IsNotMoreThan100Percent rejects percentages above 100%; integers pass.
func IsNotMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	value, isPercent := percentValue(v)
	if !isPercent || value <= 100 {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
}

func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, true
}

// intOrPercentValue is the number in v, whether "5" or "5%"; it is only
// used to ask "is this zero?".
func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentValue(v); ok {
		return n
	}
	return v.IntValue()
}

// isDecremented reports whether a collision count went down, which status
// writers must never do (it would reuse revision hashes).
func isDecremented(update, old *int32) bool {
	if update == nil && old != nil {
		return true
	}
	if update == nil || old == nil {
		return false
	}
	return *update < *old
}

func validateCollisionCount(update, old *int32, fldPath *field.Path) field.ErrorList {
	if !isDecremented(update, old) {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, int32Value(update), "cannot be decremented")}
}

// replicasScale builds the scale subresource for a workload whose replica
// counts and selector are read by get.
func replicasScale(get func(runtime.Object) (*int32, int32, *metav1.LabelSelector), set func(runtime.Object, int32)) *registry.Scale {
	return &registry.Scale{
		Replicas: func(obj runtime.Object) (int32, int32, string) {
			spec, status, sel := get(obj)
			selector, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				// Validation rejects such selectors; an empty string
				// makes the scale's selector match nothing visible.
				return int32Value(spec), status, ""
			}
			return int32Value(spec), status, selector.String()
		},
		SetReplicas: set,
	}
}
