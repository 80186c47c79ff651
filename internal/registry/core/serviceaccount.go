package core

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func serviceAccountResource() registry.Resource {
	return registry.Resource{
		GVR:        coreGVR("serviceaccounts"),
		Kind:       "ServiceAccount",
		Singular:   "serviceaccount",
		ShortNames: []string{"sa"},
		Namespaced: true,
		Strategy: registry.Strategy{
			Validate: validator(func(sa *corev1.ServiceAccount) field.ErrorList {
				return validateMeta(&sa.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
			}),
			ValidateUpdate: updateValidator(func(sa, old *corev1.ServiceAccount) field.ErrorList {
				errs := validateMetaUpdate(&sa.ObjectMeta, &old.ObjectMeta)
				return append(errs, validateMeta(&sa.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)...)
			}),
			Columns: []metav1.TableColumnDefinition{
				nameColumn(),
				{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
				ageColumn(),
			},
			Row: rower(func(sa *corev1.ServiceAccount) []any {
				return []any{sa.Name, int64(len(sa.Secrets)), translateTimestampSince(sa.CreationTimestamp)}
			}),
		},
	}
}
