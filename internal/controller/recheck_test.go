package controller

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRecheckOwner(t *testing.T) {
	owner := &metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"}
	recreated := &metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u2"}
	deleting := &metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1", DeletionTimestamp: &metav1.Time{}}
	for _, tc := range []struct {
		name string
		live metav1.Object
		err  error
		ok   bool
	}{
		{"same owner", owner, nil, true},
		{"gone", nil, errors.New("not found"), false},
		{"recreated", recreated, nil, false},
		{"being deleted", deleting, nil, false},
	} {
		check := RecheckOwner(owner, "DaemonSet", func(context.Context) (metav1.Object, error) { return tc.live, tc.err })
		if err := check(context.Background()); (err == nil) != tc.ok {
			t.Errorf("%s: check = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
