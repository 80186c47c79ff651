package rbac

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultRoleBinding fills the API group of the role and of User and Group
// subjects, which manifests routinely leave out.
func DefaultRoleBinding(b *rbacv1.RoleBinding) {
	defaultBinding(&b.RoleRef, b.Subjects)
}

// DefaultClusterRoleBinding is DefaultRoleBinding for cluster bindings.
func DefaultClusterRoleBinding(b *rbacv1.ClusterRoleBinding) {
	defaultBinding(&b.RoleRef, b.Subjects)
}

func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

func validateRoleBinding(obj runtime.Object) field.ErrorList {
	b := obj.(*rbacv1.RoleBinding)
	allErrs := validateMeta(&b.ObjectMeta, true)
	return append(allErrs, validateBinding(&b.RoleRef, b.Subjects, true)...)
}

func validateClusterRoleBinding(obj runtime.Object) field.ErrorList {
	b := obj.(*rbacv1.ClusterRoleBinding)
	allErrs := validateMeta(&b.ObjectMeta, false)
	return append(allErrs, validateBinding(&b.RoleRef, b.Subjects, false)...)
}

// The role a binding grants cannot change: that would silently change
// what every subject may do; delete and recreate the binding instead.
func validateRoleBindingUpdate(obj, old runtime.Object) field.ErrorList {
	b, oldB := obj.(*rbacv1.RoleBinding), old.(*rbacv1.RoleBinding)
	allErrs := validateRoleBinding(b)
	allErrs = append(allErrs, validateMetaUpdate(&b.ObjectMeta, &oldB.ObjectMeta)...)
	return append(allErrs, validateRoleRefUnchanged(b.RoleRef, oldB.RoleRef)...)
}

func validateClusterRoleBindingUpdate(obj, old runtime.Object) field.ErrorList {
	b, oldB := obj.(*rbacv1.ClusterRoleBinding), old.(*rbacv1.ClusterRoleBinding)
	allErrs := validateClusterRoleBinding(b)
	allErrs = append(allErrs, validateMetaUpdate(&b.ObjectMeta, &oldB.ObjectMeta)...)
	return append(allErrs, validateRoleRefUnchanged(b.RoleRef, oldB.RoleRef)...)
}

func validateRoleRefUnchanged(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref == old {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
}

func validateBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	refPath := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		allErrs = append(allErrs, field.NotSupported(refPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	if !contains(kinds, ref.Kind) {
		allErrs = append(allErrs, field.NotSupported(refPath.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		allErrs = append(allErrs, field.Required(refPath.Child("name"), ""))
	} else {
		for _, msg := range minimalName(ref.Name, false) {
			allErrs = append(allErrs, field.Invalid(refPath.Child("name"), ref.Name, msg))
		}
	}
	for i := range subjects {
		allErrs = append(allErrs, validateSubject(&subjects[i], namespaced, field.NewPath("subjects").Index(i))...)
	}
	return allErrs
}

func validateSubject(s *rbacv1.Subject, namespaced bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range apivalidation.ValidateServiceAccountName(s.Name, false) {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		// A RoleBinding's service accounts default to its own namespace;
		// a cluster binding has none to default to.
		if !namespaced && s.Namespace == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.Name == "" {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), s.Name, strings.ToLower(s.Kind)+" name cannot be empty"))
		}
		if s.APIGroup != rbacv1.GroupName {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return allErrs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// bindingColumns are the binding table; kind is "roleBinding" or
// "clusterRoleBinding" as upstream words the wide columns' descriptions.
func bindingColumns(kind string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Role", Type: "string", Description: rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		{Name: "Users", Type: "string", Priority: 1, Description: "Users in the " + kind},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the " + kind},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the " + kind},
	}
}

func roleBindingRow(obj runtime.Object) ([]any, error) {
	b, ok := obj.(*rbacv1.RoleBinding)
	if !ok {
		return nil, fmt.Errorf("expected *v1.RoleBinding, got %T", obj)
	}
	return bindingRow(&b.ObjectMeta, b.RoleRef, b.Subjects), nil
}

func clusterRoleBindingRow(obj runtime.Object) ([]any, error) {
	b, ok := obj.(*rbacv1.ClusterRoleBinding)
	if !ok {
		return nil, fmt.Errorf("expected *v1.ClusterRoleBinding, got %T", obj)
	}
	return bindingRow(&b.ObjectMeta, b.RoleRef, b.Subjects), nil
}

// bindingRow lists subjects by kind; service accounts as namespace/name.
func bindingRow(meta *metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return []any{
		meta.Name, ref.Kind + "/" + ref.Name, age(meta.CreationTimestamp),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "),
	}
}
