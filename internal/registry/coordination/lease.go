package coordination

import (
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Resources returns the coordination.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{{
		GVR:        coordinationv1.SchemeGroupVersion.WithResource("leases"),
		Kind:       "Lease",
		Singular:   "lease",
		Namespaced: true,
		Strategy: registry.Strategy{
			Validate:       validateLease,
			ValidateUpdate: validateLeaseUpdate,
			Columns:        leaseColumns,
			Row:            leaseRow,
		},
	}}
}

func validateLease(obj runtime.Object) field.ErrorList {
	l := obj.(*coordinationv1.Lease)
	allErrs := apivalidation.ValidateObjectMeta(&l.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateLeaseSpec(&l.Spec, field.NewPath("spec"))...)
}

func validateLeaseUpdate(obj, old runtime.Object) field.ErrorList {
	l, oldL := obj.(*coordinationv1.Lease), old.(*coordinationv1.Lease)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&l.ObjectMeta, &oldL.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateLeaseSpec(&l.Spec, field.NewPath("spec"))...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		allErrs = append(allErrs, validateStrategy(*spec.Strategy, fldPath.Child("strategy"))...)
	}
	// A preferred holder only means something to a coordinated election.
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}

// validateStrategy accepts the Kubernetes-defined strategy names and any
// domain-qualified custom one. The doubled "strategy" in the path is
// upstream's.
func validateStrategy(s coordinationv1.CoordinatedLeaseStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if !strings.Contains(string(s), "/") {
		if s != coordinationv1.OldestEmulationVersion {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("strategy"), s, []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}))
		}
		return allErrs
	}
	for _, msg := range content.IsQualifiedName(string(s)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("strategy"), s, msg))
	}
	return allErrs
}

var leaseColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func leaseRow(obj runtime.Object) ([]any, error) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Lease, got %T", obj)
	}
	var holder string
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	age := "<unknown>"
	if !l.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(time.Since(l.CreationTimestamp.Time))
	}
	return []any{l.Name, holder, age}, nil
}
