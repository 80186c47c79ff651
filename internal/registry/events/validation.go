package events

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Length limits on the fields recorders fill from free text.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// validateEvent applies upstream's rules for events created through
// events.k8s.io/v1: everything core/v1 requires of a new-style event plus
// a series that makes sense and none of the deprecated fields. Field paths
// are the core/v1 names, as upstream reports them.
func validateEvent(obj runtime.Object) field.ErrorList {
	e := mustCore(obj)
	allErrs := validateLegacy(e)
	allErrs = append(allErrs, apivalidation.ValidateObjectMeta(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	allErrs = append(allErrs, validateSeries(e)...)
	if e.EventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if !e.FirstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
	}
	if !e.LastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
	}
	if e.Count != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
	}
	if e.Source.Component != "" || e.Source.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
	}
	return allErrs
}

// validateEventUpdate allows only the series (and metadata) to change: an
// event is a record, and recorders update it only to count repeats.
func validateEventUpdate(obj, old runtime.Object) field.ErrorList {
	e, oldE := mustCore(obj), mustCore(old)
	allErrs := validateLegacy(e)
	allErrs = append(allErrs, apivalidation.ValidateObjectMetaUpdate(&e.ObjectMeta, &oldE.ObjectMeta, field.NewPath("metadata"))...)
	if !apiequality.Semantic.DeepEqual(e.Series, oldE.Series) {
		allErrs = append(allErrs, validateSeries(e)...)
	}
	immutable := func(n, o any, name string) {
		allErrs = append(allErrs, apivalidation.ValidateImmutableField(n, o, field.NewPath(name))...)
	}
	immutable(e.InvolvedObject, oldE.InvolvedObject, "involvedObject")
	immutable(e.Reason, oldE.Reason, "reason")
	immutable(e.Message, oldE.Message, "message")
	immutable(e.Source, oldE.Source, "source")
	immutable(e.FirstTimestamp, oldE.FirstTimestamp, "firstTimestamp")
	immutable(e.LastTimestamp, oldE.LastTimestamp, "lastTimestamp")
	immutable(e.Count, oldE.Count, "count")
	immutable(e.Type, oldE.Type, "type")
	// Sub-microsecond changes are tolerated: clients that serialize at
	// microsecond precision cannot send back exactly what they read.
	if !e.EventTime.Truncate(time.Microsecond).Equal(oldE.EventTime.Truncate(time.Microsecond)) {
		immutable(e.EventTime, oldE.EventTime, "eventTime")
	}
	immutable(e.Action, oldE.Action, "action")
	immutable(e.Related, oldE.Related, "related")
	immutable(e.ReportingController, oldE.ReportingController, "reportingController")
	immutable(e.ReportingInstance, oldE.ReportingInstance, "reportingInstance")
	return allErrs
}

func validateSeries(e *corev1.Event) field.ErrorList {
	if e.Series == nil {
		return nil
	}
	var allErrs field.ErrorList
	if e.Series.Count < 2 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
	}
	if e.Series.LastObservedTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("series.lastObservedTime"), ""))
	}
	return allErrs
}

// validateLegacy is upstream's legacyValidateEvent for a request through
// events.k8s.io/v1: an event with an eventTime must say who reported it
// and what was done.
func validateLegacy(e *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	if e.EventTime.IsZero() {
		// An old-style event's namespace must match its object's (cluster
		// objects' events may live in "default").
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		allErrs = append(allErrs, validateReported(e)...)
	}
	for _, msg := range validation.IsDNS1123Subdomain(e.Namespace) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("namespace"), e.Namespace, msg))
	}
	return allErrs
}

func validateReported(e *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
		allErrs = append(allErrs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
	}
	rcPath := field.NewPath("reportingController")
	if e.ReportingController == "" {
		allErrs = append(allErrs, field.Required(rcPath, ""))
	}
	for _, msg := range content.IsQualifiedName(e.ReportingController) {
		allErrs = append(allErrs, field.Invalid(rcPath, e.ReportingController, msg))
	}
	allErrs = append(allErrs, requiredWithLimit(e.ReportingInstance, reportingInstanceLengthLimit, "reportingInstance")...)
	allErrs = append(allErrs, requiredWithLimit(e.Action, actionLengthLimit, "action")...)
	allErrs = append(allErrs, requiredWithLimit(e.Reason, reasonLengthLimit, "reason")...)
	if len(e.Message) > noteLengthLimit {
		allErrs = append(allErrs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
	}
	return allErrs
}

func requiredWithLimit(value string, limit int, name string) field.ErrorList {
	var allErrs field.ErrorList
	if value == "" {
		allErrs = append(allErrs, field.Required(field.NewPath(name), ""))
	}
	if len(value) > limit {
		allErrs = append(allErrs, field.Invalid(field.NewPath(name), "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return allErrs
}
