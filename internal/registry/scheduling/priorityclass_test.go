package scheduling

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	s := Resources()[0].Strategy
	tests := []struct {
		name   string
		pc     schedulingv1.PriorityClass
		field  string
		detail string
	}{
		{"user class", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000000000}, "", ""},
		{"too high", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "higher"}, Value: 1000000001},
			"value", "maximum allowed value of a user defined priority is 1000000000"},
		{"system class", *SystemPriorityClasses()[0], "", ""},
		{"fake system class", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 5},
			"metadata.name", "system-mine is not a known system priority class"},
		{"wrong system value", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: SystemClusterCritical}, Value: 5},
			"metadata.name", "value of system-cluster-critical PriorityClass must be 2000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := tt.pc.DeepCopy()
			s.Default(pc)
			errs := s.Validate(pc)
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tt.field || !strings.Contains(errs[0].Detail, tt.detail) {
				t.Errorf("errors = %v", errs)
			}
		})
	}
}

func TestUpdateAndRow(t *testing.T) {
	s := Resources()[0].Strategy
	old := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high", ResourceVersion: "1"}, Value: 100, GlobalDefault: true}
	s.Default(old)
	if *old.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatalf("preemptionPolicy = %v", *old.PreemptionPolicy)
	}
	pc := old.DeepCopy()
	pc.Value = 200
	if errs := s.ValidateUpdate(pc, old); len(errs) != 1 || errs[0].Detail != "may not be changed in an update." {
		t.Errorf("errors = %v", errs)
	}
	pc = old.DeepCopy()
	pc.Description = "now documented"
	if errs := s.ValidateUpdate(pc, old); len(errs) != 0 {
		t.Errorf("unexpected errors %v", errs)
	}
	row, err := s.Row(old)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"high", int64(100), true, "<unknown>", "PreemptLowerPriority"}; !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
}
