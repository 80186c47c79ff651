package apiserver

import (
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/admission"
	"github.com/skiff-sh/skiff/internal/storage"
)

// How many names a generateName create tries before giving up, as
// upstream retries name collisions.
const generateNameAttempts = 8

func (s *Server) create(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	if info.Name != "" {
		return methodNotAllowed("create", res.groupResource())
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	obj, warnings, err := s.decodeBody(r, body, res.gvk)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return badRequest("object has no metadata: %v", err)
	}
	if res.Namespaced {
		switch ns := acc.GetNamespace(); {
		case ns == "":
			acc.SetNamespace(info.Namespace)
		case ns != info.Namespace:
			return badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		acc.SetNamespace("")
	}
	out, err := s.createObject(r.Context(), res, obj, dry)
	if err != nil {
		return err
	}
	addWarnings(w, warnings)
	return s.respondObject(w, r, res, http.StatusCreated, out)
}

// createObject runs the create path on a decoded object of the served
// kind: namespace admission, system fields, defaults, validation, write
// hooks and the store write.
func (s *Server) createObject(ctx context.Context, res *resource, obj runtime.Object, dry bool) (runtime.Object, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, badRequest("object has no metadata: %v", err)
	}
	if acc.GetResourceVersion() != "" {
		return nil, badRequest("resourceVersion should not be set on objects to be created")
	}
	if res.Namespaced {
		if err := s.admitNamespace(ctx, acc.GetNamespace()); err != nil {
			return nil, err
		}
	}
	generated := acc.GetName() == "" && acc.GetGenerateName() != ""
	if acc.GetName() == "" && !generated {
		return nil, apierrors.NewInvalid(res.gvk.GroupKind(), "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	acc.SetUID(uuid.NewUUID())
	acc.SetCreationTimestamp(metav1.NewTime(s.now()))
	acc.SetDeletionTimestamp(nil)
	acc.SetDeletionGracePeriodSeconds(nil)
	acc.SetGeneration(0)
	if res.TracksGeneration {
		acc.SetGeneration(1)
	}
	for attempt := 0; ; attempt++ {
		if generated {
			acc.SetName(acc.GetGenerateName() + rand.String(5))
		}
		out, err := s.createOnce(ctx, res, obj, dry)
		if generated && errors.Is(err, storage.ErrKeyExists) && attempt < generateNameAttempts {
			continue
		}
		if err != nil {
			return nil, storeError(err, res.groupResource(), acc.GetName())
		}
		return out, nil
	}
}

func (s *Server) createOnce(ctx context.Context, res *resource, obj runtime.Object, dry bool) (runtime.Object, error) {
	acc, _ := meta.Accessor(obj)
	st := res.Strategy
	if st.Default != nil {
		st.Default(obj)
	}
	attrs := &admission.Attributes{Operation: admission.Create, Resource: res.GVR,
		Namespace: acc.GetNamespace(), Name: acc.GetName(), Object: obj, DryRun: dry}
	// Upstream's order: mutating admission, the strategy's preparation and
	// validation, then validating admission just before the write.
	if err := s.admit(ctx, s.admission, attrs); err != nil {
		return nil, err
	}
	switch {
	case st.PrepareForCreate != nil:
		st.PrepareForCreate(obj)
	case res.HasStatus:
		resetStatus(obj)
	}
	if st.Validate != nil {
		if errs := st.Validate(obj); len(errs) > 0 {
			return nil, apierrors.NewInvalid(res.gvk.GroupKind(), acc.GetName(), errs)
		}
	}
	if err := s.admit(ctx, s.validation, attrs); err != nil {
		return nil, err
	}
	finish := func(bool) {}
	if st.Hooks != nil {
		f, err := st.Hooks.BeforeCreate(ctx, obj)
		if err != nil {
			return nil, err
		}
		finish = f
	}
	if dry {
		finish(false)
		return obj, nil
	}
	value, err := s.encodeForStore(res, obj)
	if err != nil {
		finish(false)
		return nil, err
	}
	rev, err := s.store.Create(ctx, res.key(acc.GetNamespace(), acc.GetName()), value)
	finish(err == nil)
	if err != nil {
		return nil, err
	}
	setRV(acc, rev)
	return obj, nil
}

// respondObject writes obj (of the served kind) in the negotiated form.
func (s *Server) respondObject(w http.ResponseWriter, r *http.Request, res *resource, code int, obj runtime.Object) error {
	m, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	switch m.As {
	case "PartialObjectMetadata":
		pm, err := partialMeta(obj, m.AsVersion)
		if err != nil {
			return err
		}
		s.writeEncoded(w, code, m.Type, pm)
		return nil
	case "Table", "PartialObjectMetadataList":
		m.Type = mediaJSON
	}
	s.writeEncoded(w, code, m.Type, obj)
	return nil
}
