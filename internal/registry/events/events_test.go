package events

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newEvent() *eventsv1.Event {
	now := time.Date(2025, 1, 3, 10, 0, 0, 123456000, time.UTC)
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.181", Namespace: "default", Labels: map[string]string{"a": "b"}},
		EventTime:           metav1.NewMicroTime(now),
		Series:              &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(now.Add(time.Minute))},
		ReportingController: "skiff.dev/scheduler",
		ReportingInstance:   "scheduler-node-1",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", APIVersion: "v1", FieldPath: "spec.containers{web}"},
		Related:             &corev1.ObjectReference{Kind: "Node", Name: "node-1"},
		Note:                "Successfully assigned default/web to node-1",
		Type:                corev1.EventTypeNormal,
	}
}

func TestConversionRoundTrip(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddConversions(s); err != nil {
		t.Fatal(err)
	}
	deprecated := newEvent()
	deprecated.DeprecatedSource = corev1.EventSource{Component: "kubelet", Host: "node-1"}
	deprecated.DeprecatedFirstTimestamp = metav1.NewTime(time.Date(2025, 1, 3, 9, 0, 0, 0, time.UTC))
	deprecated.DeprecatedLastTimestamp = metav1.NewTime(time.Date(2025, 1, 3, 9, 5, 0, 0, time.UTC))
	deprecated.DeprecatedCount = 4

	for _, in := range []*eventsv1.Event{newEvent(), deprecated} {
		core := &corev1.Event{}
		if err := s.Convert(in, core, nil); err != nil {
			t.Fatal(err)
		}
		if core.Message != in.Note || core.InvolvedObject != in.Regarding || core.Source != in.DeprecatedSource ||
			core.Count != in.DeprecatedCount || core.ReportingController != in.ReportingController ||
			!core.FirstTimestamp.Equal(&in.DeprecatedFirstTimestamp) || core.Series.Count != in.Series.Count {
			t.Errorf("core form = %+v", core)
		}
		back := &eventsv1.Event{}
		if err := s.Convert(core, back, nil); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(in, back) {
			t.Errorf("round trip changed the event:\n in=%+v\nout=%+v", in, back)
		}
		// The conversion copies: changing the output leaves the input alone.
		back.Labels["a"] = "changed"
		if in.Labels["a"] != "b" {
			t.Errorf("conversion shares memory with its input")
		}
	}

	list := &corev1.EventList{Items: []corev1.Event{{Message: "m"}}}
	out := &eventsv1.EventList{}
	if err := s.Convert(list, out, nil); err != nil || len(out.Items) != 1 || out.Items[0].Note != "m" {
		t.Errorf("list conversion: %v %+v", err, out)
	}
}

type wantErr struct {
	typ    field.ErrorType
	field  string
	detail string
}

func checkErrs(t *testing.T, got field.ErrorList, want []wantErr) {
	t.Helper()
	if len(want) == 0 && len(got) != 0 {
		t.Fatalf("unexpected errors: %v", got)
	}
	for _, w := range want {
		found := false
		for _, e := range got {
			if e.Type == w.typ && e.Field == w.field && strings.Contains(e.Detail, w.detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %s error on %s containing %q; got %v", w.typ, w.field, w.detail, got)
		}
	}
}

func TestValidate(t *testing.T) {
	v := Resources()[0].Strategy.Validate
	tests := []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   []wantErr
	}{
		{"valid", func(*eventsv1.Event) {}, nil},
		{"no reporting controller", func(e *eventsv1.Event) { e.ReportingController = "" },
			[]wantErr{{field.ErrorTypeRequired, "reportingController", ""}}},
		{"no action", func(e *eventsv1.Event) { e.Action = "" },
			[]wantErr{{field.ErrorTypeRequired, "action", ""}}},
		{"no reporting instance", func(e *eventsv1.Event) { e.ReportingInstance = "" },
			[]wantErr{{field.ErrorTypeRequired, "reportingInstance", ""}}},
		{"no event time", func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} },
			[]wantErr{{field.ErrorTypeRequired, "eventTime", ""}}},
		{"bad type", func(e *eventsv1.Event) { e.Type = "Info" },
			[]wantErr{{field.ErrorTypeInvalid, "type", "has invalid value: Info"}}},
		{"deprecated count", func(e *eventsv1.Event) { e.DeprecatedCount = 2 },
			[]wantErr{{field.ErrorTypeInvalid, "count", "needs to be unset"}}},
		{"short series", func(e *eventsv1.Event) { e.Series.Count = 1 },
			[]wantErr{{field.ErrorTypeInvalid, "series.count", "should be at least 2"}}},
		{"namespace mismatch", func(e *eventsv1.Event) { e.Regarding.Namespace = ""; e.Namespace = "apps" },
			[]wantErr{{field.ErrorTypeInvalid, "involvedObject.namespace", "does not match event.namespace"}}},
		{"long note", func(e *eventsv1.Event) { e.Note = strings.Repeat("x", 1025) },
			[]wantErr{{field.ErrorTypeInvalid, "message", "can have at most 1024 characters"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent()
			tt.mutate(e)
			checkErrs(t, v(e), tt.want)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	vu := Resources()[0].Strategy.ValidateUpdate
	old := newEvent()
	old.ResourceVersion = "1"
	e := old.DeepCopy()
	e.Series.Count = 4
	checkErrs(t, vu(e, old), nil)
	e.Note = "rewritten"
	checkErrs(t, vu(e, old), []wantErr{{field.ErrorTypeInvalid, "message", "field is immutable"}})
}

func TestRowAndFields(t *testing.T) {
	r := Resources()[0]
	if r.Storage().Group != "" || r.Storage().Version != "v1" || r.Storage().Resource != "events" {
		t.Errorf("storage = %v", r.Storage())
	}
	e := newEvent()
	row, err := r.Strategy.Row(e)
	if err != nil {
		t.Fatal(err)
	}
	// Old timestamps print as days; the exact age is not under test.
	if row[1] != "Normal" || row[2] != "Scheduled" || row[3] != "pod/web" || row[4] != "spec.containers{web}" ||
		row[5] != "skiff.dev/scheduler, scheduler-node-1" || row[6] != e.Note || row[8] != int64(3) || row[9] != "web.181" {
		t.Errorf("row = %#v", row)
	}
	if len(row) != len(r.Strategy.Columns) {
		t.Errorf("%d cells, %d columns", len(row), len(r.Strategy.Columns))
	}
	// The stored form prints the same.
	core := &corev1.Event{}
	ToCore(e, core)
	coreRow, _ := r.Strategy.Row(core)
	if !equality.Semantic.DeepEqual(row, coreRow) {
		t.Errorf("core row differs: %#v", coreRow)
	}
	f := r.Strategy.Fields(e)
	if f["regarding.name"] != "web" || f["involvedObject.kind"] != "Pod" || f["reportingController"] != "skiff.dev/scheduler" || f["source"] != "skiff.dev/scheduler" {
		t.Errorf("fields = %v", f)
	}
}
