package core

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// updatablePodSpecFields is the list upstream prints when a pod update
// touches anything else; resources moved to the resize subresource.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate is upstream's ValidatePodUpdate: a running pod's spec
// is fixed except for images, a shrinking activeDeadlineSeconds, added
// tolerations, removed scheduling gates and one terminationGracePeriod
// repair. Anything else is one Forbidden error on "spec" carrying a diff.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	allErrs := validateMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validatePodMetadataAndSpec(pod)...)
	specPath := field.NewPath("spec")

	errs, stop := validateContainerUpdates(pod.Spec.Containers, old.Spec.Containers, specPath.Child("containers"))
	if allErrs = append(allErrs, errs...); stop {
		return allErrs
	}
	errs, stop = validateContainerUpdates(pod.Spec.InitContainers, old.Spec.InitContainers, specPath.Child("initContainers"))
	if allErrs = append(allErrs, errs...); stop {
		return allErrs
	}
	errs, stop = validateActiveDeadlineUpdate(pod.Spec.ActiveDeadlineSeconds, old.Spec.ActiveDeadlineSeconds, specPath.Child("activeDeadlineSeconds"))
	if allErrs = append(allErrs, errs...); stop {
		return allErrs
	}
	allErrs = append(allErrs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	allErrs = append(allErrs, validateOnlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if equality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return allErrs
	}
	munged := mungePodSpecUpdate(&pod.Spec, &old.Spec)
	if !equality.Semantic.DeepEqual(*munged, old.Spec) {
		msg := fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), diff.Diff(old.Spec, *munged))
		allErrs = append(allErrs, field.Forbidden(specPath, msg))
	}
	return allErrs
}

// mungePodSpecUpdate returns a copy of spec with every field that may
// change taken from old, so that what is left to compare is what may not.
func mungePodSpecUpdate(spec, old *corev1.PodSpec) *corev1.PodSpec {
	m := spec.DeepCopy()
	for i := range m.Containers {
		m.Containers[i].Image = old.Containers[i].Image
	}
	for i := range m.InitContainers {
		m.InitContainers[i].Image = old.InitContainers[i].Image
	}
	m.ActiveDeadlineSeconds = nil
	if old.ActiveDeadlineSeconds != nil {
		m.ActiveDeadlineSeconds = ptrTo(*old.ActiveDeadlineSeconds)
	}
	m.SchedulingGates = old.SchedulingGates
	m.Tolerations = old.Tolerations
	// A negative grace period (old clients' "now") may be repaired to 1.
	if g := old.TerminationGracePeriodSeconds; g != nil && *g < 0 &&
		m.TerminationGracePeriodSeconds != nil && *m.TerminationGracePeriodSeconds == 1 {
		m.TerminationGracePeriodSeconds = old.TerminationGracePeriodSeconds
	}
	// A gated pod may still gain node selector terms: the scheduler has not
	// looked at it yet.
	if len(old.SchedulingGates) > 0 && addsOnlyNodeSelector(m.NodeSelector, old.NodeSelector) {
		m.NodeSelector = old.NodeSelector
	}
	return m
}

func addsOnlyNodeSelector(sel, old map[string]string) bool {
	for k, v := range old {
		if nv, ok := sel[k]; !ok || nv != v {
			return false
		}
	}
	return true
}

func validateContainerUpdates(containers, old []corev1.Container, fldPath *field.Path) (field.ErrorList, bool) {
	if len(containers) != len(old) {
		return field.ErrorList{field.Forbidden(fldPath, "pod updates may not add or remove containers")}, true
	}
	var allErrs field.ErrorList
	for i, c := range containers {
		if c.Image == "" {
			allErrs = append(allErrs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
	}
	return allErrs, false
}

// validateActiveDeadlineUpdate allows setting a deadline and shortening
// it, never lengthening or removing it: it bounds the pod's run time.
func validateActiveDeadlineUpdate(v, old *int64, fldPath *field.Path) (field.ErrorList, bool) {
	if v == nil {
		if old != nil {
			return field.ErrorList{field.Invalid(fldPath, v, "must not update from a positive integer to nil value")}, false
		}
		return nil, false
	}
	if *v < 0 || *v > math.MaxInt32 {
		return field.ErrorList{field.Invalid(fldPath, *v, validation.InclusiveRangeError(0, math.MaxInt32))}, true
	}
	if old != nil && *old < *v {
		return field.ErrorList{field.Invalid(fldPath, *v, "must be less than or equal to previous value")}, true
	}
	return nil, false
}

func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			// tolerationSeconds may change: it only shortens or lengthens
			// how long a NoExecute taint is tolerated.
			oc := o
			oc.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(oc, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(tolerations, fldPath)
}

func validateOnlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	if len(gates) == 0 {
		return nil
	}
	had := map[string]bool{}
	for _, g := range old {
		had[g.Name] = true
	}
	var allErrs field.ErrorList
	for _, g := range gates {
		if !had[g.Name] {
			allErrs = append(allErrs, field.Forbidden(fldPath, fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return allErrs
}
