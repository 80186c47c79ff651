package apps

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/registry"
)

func controllerRevisionResource() registry.Resource {
	return registry.Resource{
		GVR:        appsv1.SchemeGroupVersion.WithResource("controllerrevisions"),
		Kind:       "ControllerRevision",
		Singular:   "controllerrevision",
		Namespaced: true,
		Strategy: registry.Strategy{
			Validate:       validateControllerRevision,
			ValidateUpdate: validateControllerRevisionUpdate,
			Columns:        controllerRevisionColumns,
			Row:            controllerRevisionRow,
		},
	}
}

func validateControllerRevision(obj runtime.Object) field.ErrorList {
	r := obj.(*appsv1.ControllerRevision)
	allErrs := apivalidation.ValidateObjectMeta(&r.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if len(r.Data.Raw) == 0 && r.Data.Object == nil {
		allErrs = append(allErrs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(allErrs, apivalidation.ValidateNonnegativeField(r.Revision, field.NewPath("revision"))...)
}

// validateControllerRevisionUpdate keeps a revision's data fixed: it is the
// snapshot a rollback restores, so rewriting it would rewrite history.
func validateControllerRevisionUpdate(obj, old runtime.Object) field.ErrorList {
	r, oldR := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
	allErrs := apivalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &oldR.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateControllerRevision(r)...)
	return append(allErrs, apivalidation.ValidateImmutableField(r.Data, oldR.Data, field.NewPath("data"))...)
}

var controllerRevisionColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Controller", Type: "string", Description: "Controller of the object"},
	{Name: "Revision", Type: "string", Description: appsv1beta1.ControllerRevision{}.SwaggerDoc()["revision"]},
	ageColumn,
}

func controllerRevisionRow(obj runtime.Object) ([]any, error) {
	r, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return nil, fmt.Errorf("expected *v1.ControllerRevision, got %T", obj)
	}
	controller := "<none>"
	if ref := metav1.GetControllerOf(r); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return nil, err
		}
		// "daemonset.apps/fluentd", as kubectl prints resource names.
		gk := gv.WithKind(ref.Kind).GroupKind()
		controller = ref.Name
		if !gk.Empty() {
			controller = strings.ToLower(gk.String()) + "/" + ref.Name
		}
	}
	return []any{r.Name, controller, r.Revision, age(r.CreationTimestamp)}, nil
}
