package rbac

import (
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Resources returns the rbac.authorization.k8s.io/v1 resources.
func Resources() []registry.Resource {
	gv := rbacv1.SchemeGroupVersion
	return []registry.Resource{
		{
			GVR: gv.WithResource("roles"), Kind: "Role", Singular: "role", Namespaced: true,
			Strategy: registry.Strategy{Validate: validateRole, ValidateUpdate: validateRoleUpdate},
		},
		{
			GVR: gv.WithResource("clusterroles"), Kind: "ClusterRole", Singular: "clusterrole",
			Strategy: registry.Strategy{Validate: validateClusterRole, ValidateUpdate: validateClusterRoleUpdate},
		},
		{
			GVR: gv.WithResource("rolebindings"), Kind: "RoleBinding", Singular: "rolebinding", Namespaced: true,
			Strategy: registry.Strategy{
				Default:        func(obj runtime.Object) { DefaultRoleBinding(obj.(*rbacv1.RoleBinding)) },
				Validate:       validateRoleBinding,
				ValidateUpdate: validateRoleBindingUpdate,
				Columns:        bindingColumns("roleBinding"),
				Row:            roleBindingRow,
			},
		},
		{
			GVR: gv.WithResource("clusterrolebindings"), Kind: "ClusterRoleBinding", Singular: "clusterrolebinding",
			Strategy: registry.Strategy{
				Default:        func(obj runtime.Object) { DefaultClusterRoleBinding(obj.(*rbacv1.ClusterRoleBinding)) },
				Validate:       validateClusterRoleBinding,
				ValidateUpdate: validateClusterRoleBindingUpdate,
				Columns:        bindingColumns("clusterRoleBinding"),
				Row:            clusterRoleBindingRow,
			},
		},
	}
}

// minimalName is upstream's RBAC name rule: anything that is a safe URL
// path segment.
func minimalName(name string, _ bool) []string {
	return content.IsPathSegmentName(name)
}

func validateMeta(meta *metav1.ObjectMeta, namespaced bool) field.ErrorList {
	return apivalidation.ValidateObjectMeta(meta, namespaced, minimalName, field.NewPath("metadata"))
}

func validateMetaUpdate(meta, old *metav1.ObjectMeta) field.ErrorList {
	return apivalidation.ValidateObjectMetaUpdate(meta, old, field.NewPath("metadata"))
}

func age(ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}
