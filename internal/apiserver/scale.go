package apiserver

import (
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// serveScale serves the scale subresource: an autoscaling/v1 Scale view of
// the object's replica count. Writes change only spec.replicas.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	switch info.Verb {
	case "get":
		if err := s.awaitRV(r.Context(), -1); err != nil {
			return err
		}
		o, _, ok := res.cache.Get(res.key(info.Namespace, info.Name))
		if !ok {
			return apierrors.NewNotFound(res.groupResource(), info.Name)
		}
		obj, err := s.served(res, o)
		if err != nil {
			return err
		}
		s.writeObject(w, r, http.StatusOK, scaleOf(res, obj))
		return nil
	case "update", "patch":
	default:
		return methodNotAllowed(info.Verb, res.groupResource())
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	var warnings []string
	out, err := s.updateObject(r.Context(), res, info.Namespace, info.Name, mainResource, dry, func(cur runtime.Object) (runtime.Object, error) {
		want, warns, err := s.desiredScale(r, info.Verb, body, scaleOf(res, cur))
		warnings = warns
		if err != nil {
			return nil, err
		}
		if want.Name != info.Name {
			return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", want.Name, info.Name)
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), info.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		acc, _ := meta.Accessor(cur)
		acc.SetResourceVersion(want.ResourceVersion)
		res.Scale.SetReplicas(cur, want.Spec.Replicas)
		return cur, nil
	})
	if err != nil {
		return err
	}
	addWarnings(w, warnings)
	s.writeObject(w, r, http.StatusOK, scaleOf(res, out))
	return nil
}

// desiredScale decodes a PUT body, or applies a PATCH to the current Scale.
func (s *Server) desiredScale(r *http.Request, verb string, body []byte, cur *autoscalingv1.Scale) (*autoscalingv1.Scale, []string, error) {
	var obj runtime.Object
	var warnings []string
	var err error
	if verb == "update" {
		obj, warnings, err = s.decodeBody(r, body, scaleGVK)
	} else {
		pt, perr := patchType(r.Header.Get("Content-Type"))
		if perr != nil {
			return nil, nil, perr
		}
		mode, ferr := fieldValidation(r)
		if ferr != nil {
			return nil, nil, ferr
		}
		obj, warnings, err = s.applyPatch(scaleGVK, cur, pt, body, mode)
	}
	if err != nil {
		return nil, nil, err
	}
	return obj.(*autoscalingv1.Scale), warnings, nil
}

func scaleOf(res *resource, obj runtime.Object) *autoscalingv1.Scale {
	acc, _ := meta.Accessor(obj)
	spec, status, selector := res.Scale.Replicas(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{
			Name: acc.GetName(), Namespace: acc.GetNamespace(), UID: acc.GetUID(),
			ResourceVersion: acc.GetResourceVersion(), CreationTimestamp: acc.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
}
