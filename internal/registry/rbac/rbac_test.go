package rbac

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func strategy(t *testing.T, kind string) registry.Strategy {
	t.Helper()
	for _, r := range Resources() {
		if r.Kind == kind {
			return r.Strategy
		}
	}
	t.Fatalf("no resource %s", kind)
	return registry.Strategy{}
}

func hasErr(errs field.ErrorList, typ field.ErrorType, fld, detail string) bool {
	for _, e := range errs {
		if e.Type == typ && e.Field == fld && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		kind   string
		rule   rbacv1.PolicyRule
		typ    field.ErrorType
		field  string
		detail string
	}{
		{"valid", "Role", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, "", "", ""},
		{"no verbs", "Role", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}},
			field.ErrorTypeRequired, "rules[0].verbs", "verbs must contain at least one value"},
		{"no api groups", "ClusterRole", rbacv1.PolicyRule{Verbs: []string{"get"}, Resources: []string{"pods"}},
			field.ErrorTypeRequired, "rules[0].apiGroups", "resource rules must supply at least one api group"},
		{"no resources", "ClusterRole", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"apps"}},
			field.ErrorTypeRequired, "rules[0].resources", "resource rules must supply at least one resource"},
		{"urls in role", "Role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}},
			field.ErrorTypeInvalid, "rules[0].nonResourceURLs", "namespaced rules cannot apply to non-resource URLs"},
		{"urls in cluster role", "ClusterRole", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, "", "", ""},
		{"urls and resources", "ClusterRole", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}, Resources: []string{"pods"}},
			field.ErrorTypeInvalid, "rules[0].nonResourceURLs", "rules cannot apply to both regular resources and non-resource URLs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := metav1.ObjectMeta{Name: "system:reader", Namespace: "default"}
			var obj runtime.Object = &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{tt.rule}}
			if tt.kind == "ClusterRole" {
				meta.Namespace = ""
				obj = &rbacv1.ClusterRole{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{tt.rule}}
			}
			errs := strategy(t, tt.kind).Validate(obj)
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				return
			}
			if !hasErr(errs, tt.typ, tt.field, tt.detail) {
				t.Errorf("errors = %v", errs)
			}
		})
	}
}

func TestNames(t *testing.T) {
	v := strategy(t, "ClusterRole").Validate
	if errs := v(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:controller:Foo"}}); len(errs) != 0 {
		t.Errorf("path-segment name rejected: %v", errs)
	}
	if errs := v(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "a/b"}}); !hasErr(errs, field.ErrorTypeInvalid, "metadata.name", `may not contain '/'`) {
		t.Errorf("errors = %v", errs)
	}
}

func newBinding() *rbacv1.RoleBinding {
	b := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "readers", Namespace: "default", ResourceVersion: "1"},
		RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{
			{Kind: "User", Name: "alice"}, {Kind: "Group", Name: "devs"},
			{Kind: "ServiceAccount", Name: "ci", Namespace: "build"}, {Kind: "User", Name: "bob"},
		},
	}
	DefaultRoleBinding(b)
	return b
}

func TestBindings(t *testing.T) {
	b := newBinding()
	if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName || b.Subjects[2].APIGroup != "" {
		t.Fatalf("defaults = %+v", b)
	}
	s := strategy(t, "RoleBinding")
	if errs := s.Validate(b); len(errs) != 0 {
		t.Fatalf("unexpected errors %v", errs)
	}
	changed := b.DeepCopy()
	changed.RoleRef.Name = "edit"
	if errs := s.ValidateUpdate(changed, b); !hasErr(errs, field.ErrorTypeInvalid, "roleRef", "cannot change roleRef") {
		t.Errorf("errors = %v", errs)
	}
	subjects := b.DeepCopy()
	subjects.Subjects = subjects.Subjects[:1]
	if errs := s.ValidateUpdate(subjects, b); len(errs) != 0 {
		t.Errorf("subjects should be mutable: %v", errs)
	}

	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "x"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci"}},
	}
	errs := strategy(t, "ClusterRoleBinding").Validate(crb)
	if !hasErr(errs, field.ErrorTypeNotSupported, "roleRef.kind", `"ClusterRole"`) || !hasErr(errs, field.ErrorTypeRequired, "subjects[0].namespace", "") {
		t.Errorf("errors = %v", errs)
	}
}

func TestBindingRow(t *testing.T) {
	s := strategy(t, "RoleBinding")
	row, err := s.Row(newBinding())
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"readers", "ClusterRole/view", "<unknown>", "alice, bob", "devs", "build/ci"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
	if len(row) != len(s.Columns) || s.Columns[3].Priority != 1 {
		t.Errorf("columns = %+v", s.Columns)
	}
	if strategy(t, "Role").Columns != nil {
		t.Errorf("roles should use the default table")
	}
}
