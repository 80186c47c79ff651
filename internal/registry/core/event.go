package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Limits upstream puts on events that carry an eventTime (new-style).
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

func eventResource() registry.Resource {
	doc := corev1.Event{}.SwaggerDoc()
	return registry.Resource{
		GVR:        coreGVR("events"),
		Kind:       "Event",
		Singular:   "event",
		ShortNames: []string{"ev"},
		Namespaced: true,
		Strategy: registry.Strategy{
			Validate: validator(func(e *corev1.Event) field.ErrorList {
				errs := validateMeta(&e.ObjectMeta, true, path.ValidatePathSegmentName)
				return append(errs, validateEvent(e)...)
			}),
			ValidateUpdate: updateValidator(func(e, old *corev1.Event) field.ErrorList {
				errs := validateMetaUpdate(&e.ObjectMeta, &old.ObjectMeta)
				return append(errs, validateEvent(e)...)
			}),
			// Upstream's event table leads with LAST SEEN, and NAME is a
			// wide-only column at the end.
			Columns: []metav1.TableColumnDefinition{
				{Name: "Last Seen", Type: "string", Description: doc["lastTimestamp"]},
				{Name: "Type", Type: "string", Description: doc["type"]},
				{Name: "Reason", Type: "string", Description: doc["reason"]},
				{Name: "Object", Type: "string", Description: doc["involvedObject"]},
				{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
				{Name: "Source", Type: "string", Priority: 1, Description: doc["source"]},
				{Name: "Message", Type: "string", Description: doc["message"]},
				{Name: "First Seen", Type: "string", Priority: 1, Description: doc["firstTimestamp"]},
				{Name: "Count", Type: "string", Priority: 1, Description: doc["count"]},
				{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			},
			Row:    rower(eventRow),
			Fields: fielder(eventFields),
		},
	}
}

// validateEvent is upstream's legacy (core/v1) event validation: loose,
// because old clients write events in many shapes.
func validateEvent(e *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	if e.EventTime.IsZero() {
		// Old-style events: the namespaces must agree; cluster-scoped
		// objects' events may live in "default" for old clients.
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		allErrs = append(allErrs, validateNewStyleEvent(e)...)
	}
	return append(allErrs, validateDNS1123Subdomain(e.Namespace, field.NewPath("namespace"))...)
}

func validateNewStyleEvent(e *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
		allErrs = append(allErrs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
	}
	// core/v1 calls reportingController "reportingComponent".
	rcPath := field.NewPath("reportingComponent")
	if e.ReportingController == "" {
		allErrs = append(allErrs, field.Required(rcPath, ""))
	}
	allErrs = append(allErrs, validateQualifiedName(e.ReportingController, rcPath)...)
	required := []struct {
		name  string
		value string
		limit int
	}{
		{"reportingInstance", e.ReportingInstance, reportingInstanceLengthLimit},
		{"action", e.Action, actionLengthLimit},
		{"reason", e.Reason, reasonLengthLimit},
	}
	for _, r := range required {
		if r.value == "" {
			allErrs = append(allErrs, field.Required(field.NewPath(r.name), ""))
		}
		if len(r.value) > r.limit {
			allErrs = append(allErrs, field.Invalid(field.NewPath(r.name), "", fmt.Sprintf("can have at most %v characters", r.limit)))
		}
	}
	if len(e.Message) > noteLengthLimit {
		allErrs = append(allErrs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
	}
	return allErrs
}

func eventRow(e *corev1.Event) []any {
	first := translateTimestampSince(e.FirstTimestamp)
	if e.FirstTimestamp.IsZero() {
		first = translateMicroTimestampSince(e.EventTime)
	}
	last := translateTimestampSince(e.LastTimestamp)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = translateMicroTimestampSince(e.Series.LastObservedTime)
		count = e.Series.Count
	} else if count == 0 {
		// Singleton events of the new API carry no count.
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return []any{
		last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}
}

func translateMicroTimestampSince(ts metav1.MicroTime) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return translateTimestampSince(metav1.NewTime(ts.Time))
}

// eventSource prefers the old source fields and falls back to the new
// reporting ones: "component, host".
func eventSource(e *corev1.Event) string {
	component, host := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if host == "" {
		host = e.ReportingInstance
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}

func eventFields(e *corev1.Event) fields.Set {
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}
