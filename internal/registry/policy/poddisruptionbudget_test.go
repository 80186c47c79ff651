package policy

import (
	"strings"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptrTo[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	v := Resources()[0].Strategy.Validate
	tests := []struct {
		name   string
		spec   policyv1.PodDisruptionBudgetSpec
		typ    field.ErrorType
		field  string
		detail string
	}{
		{"min available", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(2))}, "", "", ""},
		{"max unavailable percent", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromString("25%"))}, "", "", ""},
		{"both", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(1)), MaxUnavailable: ptrTo(intstr.FromInt32(1))},
			field.ErrorTypeInvalid, "spec", "minAvailable and maxUnavailable cannot be both set"},
		{"negative", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(-1))},
			field.ErrorTypeInvalid, "spec.minAvailable", "must be greater than or equal to 0"},
		{"over 100%", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromString("150%"))},
			field.ErrorTypeInvalid, "spec.maxUnavailable", "must not be greater than 100%"},
		{"bad eviction policy", policyv1.PodDisruptionBudgetSpec{UnhealthyPodEvictionPolicy: ptrTo(policyv1.UnhealthyPodEvictionPolicyType("Never"))},
			field.ErrorTypeNotSupported, "spec.unhealthyPodEvictionPolicy", `"AlwaysAllow", "IfHealthyBudget"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"}, Spec: tt.spec}
			errs := v(pdb)
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				return
			}
			for _, e := range errs {
				if e.Type == tt.typ && e.Field == tt.field && strings.Contains(e.Detail, tt.detail) {
					return
				}
			}
			t.Errorf("errors = %v", errs)
		})
	}
}

func TestStatusAndRow(t *testing.T) {
	r := Resources()[0]
	old := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", ResourceVersion: "1"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrTo(intstr.FromString("25%"))},
	}
	pdb := old.DeepCopy()
	pdb.Status.DisruptionsAllowed = -1
	if errs := r.Strategy.ValidateStatusUpdate(pdb, old); len(errs) != 1 || errs[0].Field != "status.disruptionsAllowed" {
		t.Errorf("errors = %v", errs)
	}
	pdb.Status.DisruptionsAllowed = 1
	row, err := r.Strategy.Row(pdb)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"db", "N/A", "25%", int64(1), "<unknown>"}; !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
	if !r.HasStatus || !r.TracksGeneration || r.ShortNames[0] != "pdb" {
		t.Errorf("resource = %+v", r)
	}
}
