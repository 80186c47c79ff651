package coordination

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptrTo[T any](v T) *T { return &v }

func TestLeaseValidate(t *testing.T) {
	v := Resources()[0].Strategy.Validate
	tests := []struct {
		name   string
		spec   coordinationv1.LeaseSpec
		field  string
		detail string
	}{
		{"valid", coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-1"), LeaseDurationSeconds: ptrTo[int32](40)}, "", ""},
		{"zero duration", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptrTo[int32](0)}, "spec.leaseDurationSeconds", "must be greater than 0"},
		{"negative transitions", coordinationv1.LeaseSpec{LeaseTransitions: ptrTo[int32](-1)}, "spec.leaseTransitions", "must be greater than or equal to 0"},
		{"unknown strategy", coordinationv1.LeaseSpec{Strategy: ptrTo(coordinationv1.CoordinatedLeaseStrategy("Newest"))}, "spec.strategy.strategy", "OldestEmulationVersion"},
		{"custom strategy", coordinationv1.LeaseSpec{Strategy: ptrTo(coordinationv1.CoordinatedLeaseStrategy("skiff.dev/first"))}, "", ""},
		{"holder without strategy", coordinationv1.LeaseSpec{PreferredHolder: ptrTo("a")}, "spec.preferredHolder", "may only be specified if `strategy` is defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"}, Spec: tt.spec}
			errs := v(l)
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

func TestLeaseRow(t *testing.T) {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "skiff-controller", CreationTimestamp: metav1.NewTime(time.Now().Add(-90 * time.Second))},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptrTo("server-1_abc")},
	}
	row, err := Resources()[0].Strategy.Row(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"skiff-controller", "server-1_abc", "90s"}; !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
}
