package policy

import (
	"fmt"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
	"github.com/skiff-sh/skiff/internal/registry/apps"
)

var evictionPolicies = []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}

// Resources returns the policy/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{{
		GVR:              policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets"),
		Kind:             "PodDisruptionBudget",
		Singular:         "poddisruptionbudget",
		ShortNames:       []string{"pdb"},
		Namespaced:       true,
		HasStatus:        true,
		TracksGeneration: true,
		Strategy: registry.Strategy{
			Validate:             validatePDB,
			ValidateUpdate:       validatePDBUpdate,
			ValidateStatusUpdate: validatePDBStatusUpdate,
			Columns:              columns,
			Row:                  row,
		},
	}}
}

func validatePDB(obj runtime.Object) field.ErrorList {
	pdb := obj.(*policyv1.PodDisruptionBudget)
	allErrs := apivalidation.ValidateObjectMeta(&pdb.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateSpec(&pdb.Spec, field.NewPath("spec"))...)
}

// validatePDBUpdate allows any spec change, including the selector: the
// disruption controller recomputes the budget from scratch.
func validatePDBUpdate(obj, old runtime.Object) field.ErrorList {
	pdb, oldPDB := obj.(*policyv1.PodDisruptionBudget), old.(*policyv1.PodDisruptionBudget)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&pdb.ObjectMeta, &oldPDB.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateSpec(&pdb.Spec, field.NewPath("spec"))...)
}

func validateSpec(spec *policyv1.PodDisruptionBudgetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, *spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if v := spec.MinAvailable; v != nil {
		allErrs = append(allErrs, apps.ValidatePositiveIntOrPercent(*v, fldPath.Child("minAvailable"))...)
		allErrs = append(allErrs, apps.IsNotMoreThan100Percent(*v, fldPath.Child("minAvailable"))...)
	}
	if v := spec.MaxUnavailable; v != nil {
		allErrs = append(allErrs, apps.ValidatePositiveIntOrPercent(*v, fldPath.Child("maxUnavailable"))...)
		allErrs = append(allErrs, apps.IsNotMoreThan100Percent(*v, fldPath.Child("maxUnavailable"))...)
	}
	allErrs = append(allErrs, metavalidation.ValidateLabelSelector(spec.Selector, metavalidation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.AlwaysAllow && *p != policyv1.IfHealthyBudget {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("unhealthyPodEvictionPolicy"), *p, evictionPolicies))
	}
	return allErrs
}

func validatePDBStatusUpdate(obj, old runtime.Object) field.ErrorList {
	pdb, oldPDB := obj.(*policyv1.PodDisruptionBudget), old.(*policyv1.PodDisruptionBudget)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&pdb.ObjectMeta, &oldPDB.ObjectMeta, field.NewPath("metadata"))
	fldPath := field.NewPath("status")
	st := &pdb.Status
	allErrs = append(allErrs, metavalidation.ValidateConditions(st.Conditions, fldPath.Child("conditions"))...)
	for _, c := range []struct {
		name  string
		value int32
	}{
		{"disruptionsAllowed", st.DisruptionsAllowed}, {"currentHealthy", st.CurrentHealthy},
		{"desiredHealthy", st.DesiredHealthy}, {"expectedPods", st.ExpectedPods},
	} {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(int64(c.value), fldPath.Child(c.name))...)
	}
	return allErrs
}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Min Available", Type: "string", Description: "The minimum number of pods that must be available."},
	{Name: "Max Unavailable", Type: "string", Description: "The maximum number of pods that may be unavailable."},
	{Name: "Allowed Disruptions", Type: "integer", Description: "Calculated number of pods that may be disrupted at this time."},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func row(obj runtime.Object) ([]any, error) {
	pdb, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return nil, fmt.Errorf("expected *v1.PodDisruptionBudget, got %T", obj)
	}
	minAvailable, maxUnavailable := "N/A", "N/A"
	if pdb.Spec.MinAvailable != nil {
		minAvailable = pdb.Spec.MinAvailable.String()
	}
	if pdb.Spec.MaxUnavailable != nil {
		maxUnavailable = pdb.Spec.MaxUnavailable.String()
	}
	age := "<unknown>"
	if !pdb.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(time.Since(pdb.CreationTimestamp.Time))
	}
	return []any{pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), age}, nil
}
