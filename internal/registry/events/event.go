package events

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Resources returns the events.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{{
		GVR:        eventsv1.SchemeGroupVersion.WithResource("events"),
		Kind:       "Event",
		Singular:   "event",
		ShortNames: []string{"ev"},
		Namespaced: true,
		StorageGVR: schema.GroupVersionResource{Version: "v1", Resource: "events"},
		Strategy: registry.Strategy{
			Validate:       validateEvent,
			ValidateUpdate: validateEventUpdate,
			Columns:        eventColumns,
			Row:            eventRow,
			Fields:         eventFields,
		},
	}}
}

// toCore returns the core/v1 form of an Event given in either version: the
// server may hand the strategy the served or the stored object.
func toCore(obj runtime.Object) (*corev1.Event, error) {
	switch e := obj.(type) {
	case *corev1.Event:
		return e, nil
	case *eventsv1.Event:
		out := &corev1.Event{}
		ToCore(e, out)
		return out, nil
	}
	return nil, fmt.Errorf("expected an Event, got %T", obj)
}

// mustCore is toCore for strategy hooks that cannot return an error; the
// server only passes them Events.
func mustCore(obj runtime.Object) *corev1.Event {
	e, err := toCore(obj)
	if err != nil {
		panic(err)
	}
	return e
}

// The events.k8s.io field selectors use its own names; the core/v1 names
// are accepted too since both address the same stored object.
func eventFields(obj runtime.Object) fields.Set {
	e := mustCore(obj)
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	set := fields.Set{
		"reason":              e.Reason,
		"reportingComponent":  e.ReportingController,
		"reportingController": e.ReportingController,
		"source":              source,
		"type":                e.Type,
	}
	ref := e.InvolvedObject
	for _, prefix := range []string{"regarding.", "involvedObject."} {
		set[prefix+"kind"] = ref.Kind
		set[prefix+"namespace"] = ref.Namespace
		set[prefix+"name"] = ref.Name
		set[prefix+"uid"] = string(ref.UID)
		set[prefix+"apiVersion"] = ref.APIVersion
		set[prefix+"resourceVersion"] = ref.ResourceVersion
		set[prefix+"fieldPath"] = ref.FieldPath
	}
	return set
}

// eventColumns are core/v1's event columns, which upstream also serves for
// events.k8s.io (both are printed from the one stored type). Unlike other
// tables, the name is not first: kubectl shows the newest activity first.
var eventColumns = []metav1.TableColumnDefinition{
	{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
	{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
	{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
	{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
	{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
	{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
	{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
	{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
	{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
	{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
}

// eventRow prints an Event of either API generation: old events carry
// first/last timestamps and a count, new ones an eventTime and a series.
func eventRow(obj runtime.Object) ([]any, error) {
	e, err := toCore(obj)
	if err != nil {
		return nil, err
	}
	first := since(e.FirstTimestamp.Time)
	if e.FirstTimestamp.IsZero() {
		first = since(e.EventTime.Time)
	}
	last := since(e.LastTimestamp.Time)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = since(e.Series.LastObservedTime.Time)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // singleton events of the new API carry no count
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return []any{
		last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}, nil
}

// eventSource is "component, host", falling back to the reporting
// controller and instance that new-API events set instead.
func eventSource(e *corev1.Event) string {
	component, instance := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if instance == "" {
		instance = e.ReportingInstance
	}
	if instance == "" {
		return component
	}
	return component + ", " + instance
}

func since(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t))
}
