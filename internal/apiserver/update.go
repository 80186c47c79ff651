package apiserver

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/admission"
	"github.com/skiff-sh/skiff/internal/storage"
)

// target says which part of an object a write may change.
type target int

const (
	mainResource        target = iota // everything but status
	statusSubresource                 // only status
	finalizeSubresource               // only a namespace's spec.finalizers
	// wholeObject is for the server's own writes that change spec and
	// status together (pods/binding), as upstream's binding storage does.
	wholeObject
)

// How many times a write retries after losing a race it did not pin with
// a resourceVersion.
const maxConflictRetries = 16

func (s *Server) update(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo, tgt target) error {
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
	if err := checkIdentity(obj, res, info); err != nil {
		return err
	}
	out, err := s.updateObject(r.Context(), res, info.Namespace, info.Name, tgt, dry,
		func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil })
	if err != nil {
		return err
	}
	addWarnings(w, warnings)
	return s.respondObject(w, r, res, http.StatusOK, out)
}

// checkIdentity makes the body's name and namespace agree with the URL.
func checkIdentity(obj runtime.Object, res *resource, info requestInfo) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return badRequest("object has no metadata: %v", err)
	}
	if acc.GetName() != info.Name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), info.Name)
	}
	if res.Namespaced {
		switch ns := acc.GetNamespace(); {
		case ns == "":
			acc.SetNamespace(info.Namespace)
		case ns != info.Namespace:
			return badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	}
	return nil
}

// updateFunc returns the desired object given a private copy of the
// current one (both of the served kind).
type updateFunc func(current runtime.Object) (runtime.Object, error)

// updateObject is the one read-modify-write loop every update, patch,
// status and scale write goes through. A write whose desired object pins a
// resourceVersion fails with 409 when the object moved on; one that does not
// is retried against the latest version.
func (s *Server) updateObject(ctx context.Context, res *resource, namespace, name string, tgt target, dry bool, fn updateFunc) (runtime.Object, error) {
	key := res.key(namespace, name)
	fromStore := false
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.current(ctx, res, key, fromStore)
		if err != nil {
			return nil, storeError(err, res.groupResource(), name)
		}
		desired, err := fn(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		acc, err := meta.Accessor(desired)
		if err != nil {
			return nil, badRequest("object has no metadata: %v", err)
		}
		pinned := acc.GetResourceVersion() != ""
		if pinned && acc.GetResourceVersion() != strconv.FormatInt(rev, 10) {
			if !fromStore {
				// The cache may lag a write the client already saw.
				fromStore = true
				continue
			}
			return nil, apierrors.NewConflict(res.groupResource(), name, errors.New(conflictMessage))
		}
		out, noop, err := s.writeUpdate(ctx, res, key, desired, cur, rev, tgt, dry)
		if noop && !fromStore {
			// Nothing would change, but the cache may not have seen the
			// latest write yet: decide on the stored object, as upstream's
			// store re-reads before a no-op, so a write is never lost to
			// a stale read and a stale pinned version still gets its 409.
			fromStore = true
			continue
		}
		if errors.Is(err, storage.ErrConflict) {
			if pinned || attempt >= maxConflictRetries {
				return nil, apierrors.NewConflict(res.groupResource(), name, errors.New(conflictMessage))
			}
			fromStore = true
			continue
		}
		if err != nil {
			return nil, storeError(err, res.groupResource(), name)
		}
		return out, nil
	}
}

// current returns the latest known version of key as the served kind (a
// private copy is made by the caller) with its revision, from the cache or,
// after a conflict, from the store itself.
func (s *Server) current(ctx context.Context, res *resource, key string, fromStore bool) (runtime.Object, int64, error) {
	if !fromStore {
		if o, _, ok := res.cache.Get(key); ok {
			obj, err := s.served(res, o)
			return obj, o.Rev, err
		}
		// Not cached yet may mean not written yet or not seen yet.
	}
	kv, err := s.store.Get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	obj, err := s.decodeStored(res, kv.Value, kv.ModRevision)
	if err != nil {
		return nil, 0, err
	}
	obj, err = s.toServed(res, obj)
	return obj, kv.ModRevision, err
}

// writeUpdate applies the update rules to desired against cur and writes
// it with compare-on-revision. It reports a no-op (nothing to write) apart.
func (s *Server) writeUpdate(ctx context.Context, res *resource, key string, desired, cur runtime.Object, rev int64, tgt target, dry bool) (runtime.Object, bool, error) {
	// The write is conditional on rev whether or not the client pinned it;
	// strategies validate the object as it will be compared.
	dacc, _ := meta.Accessor(desired)
	setRV(dacc, rev)
	obj, err := s.prepareUpdate(ctx, res, desired, cur, tgt, dry)
	if err != nil {
		return nil, false, err
	}
	acc, _ := meta.Accessor(obj)
	setRV(acc, rev)
	if equality.Semantic.DeepEqual(obj, cur) {
		return cur, true, nil // no-op writes keep the resourceVersion, as upstream
	}
	if shouldDeleteDuringUpdate(obj, cur) {
		if dry {
			return obj, false, nil
		}
		if _, _, err := s.store.Delete(ctx, key, rev); err != nil {
			return nil, false, err
		}
		s.afterDelete(res, cur)
		return obj, false, nil
	}
	finish := func(bool) {}
	if h := res.Strategy.Hooks; h != nil && tgt == mainResource {
		if finish, err = h.BeforeUpdate(ctx, obj, cur); err != nil {
			return nil, false, err
		}
	}
	if dry {
		finish(false)
		return obj, false, nil
	}
	value, err := s.encodeForStore(res, obj)
	if err != nil {
		finish(false)
		return nil, false, err
	}
	newRev, err := s.store.Update(ctx, key, value, rev)
	finish(err == nil)
	if err != nil {
		return nil, false, err
	}
	setRV(acc, newRev)
	return obj, false, nil
}

// prepareUpdate builds the object to store from what the client sent and
// what is stored: system metadata is kept, the status split is applied,
// defaults, strategy rules and validation run, and the generation moves
// when the spec changed.
func (s *Server) prepareUpdate(ctx context.Context, res *resource, desired, cur runtime.Object, tgt target, dry bool) (runtime.Object, error) {
	obj := desired
	switch tgt {
	case statusSubresource:
		// Everything but status (and managedFields) comes from storage.
		obj = cur.DeepCopyObject()
		copyStatus(obj, desired)
		keepManagedFields(obj, desired)
	case finalizeSubresource:
		ns, ok1 := cur.DeepCopyObject().(*corev1.Namespace)
		want, ok2 := desired.(*corev1.Namespace)
		if !ok1 || !ok2 {
			return nil, badRequest("finalize applies to namespaces only")
		}
		ns.Spec.Finalizers = want.Spec.Finalizers
		obj = ns
	}
	acc, _ := meta.Accessor(obj)
	old, _ := meta.Accessor(cur)
	if acc.GetUID() == "" {
		acc.SetUID(old.GetUID())
	}
	if ts := acc.GetCreationTimestamp(); ts.IsZero() {
		acc.SetCreationTimestamp(old.GetCreationTimestamp())
	}
	acc.SetDeletionTimestamp(old.GetDeletionTimestamp())
	acc.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	acc.SetGeneration(old.GetGeneration())

	st := res.Strategy
	if st.Default != nil && tgt != finalizeSubresource {
		st.Default(obj)
	}
	sub := map[target]string{statusSubresource: "status", finalizeSubresource: "finalize", wholeObject: "binding"}[tgt]
	attrs := &admission.Attributes{Operation: admission.Update, Resource: res.GVR, Subresource: sub,
		Namespace: acc.GetNamespace(), Name: acc.GetName(), Object: obj, OldObject: cur, DryRun: dry}
	if err := s.admit(ctx, s.admission, attrs); err != nil {
		return nil, err
	}
	// Strategies validate metadata themselves (name rules differ by kind).
	var errs field.ErrorList
	switch tgt {
	case mainResource, wholeObject:
		if res.HasStatus && tgt == mainResource {
			copyStatus(obj, cur)
		}
		if st.PrepareForUpdate != nil {
			st.PrepareForUpdate(obj, cur)
		}
		// Binding sets spec.nodeName without bumping the generation, as
		// upstream's binding storage does.
		if res.TracksGeneration && tgt == mainResource && !specEqual(obj, cur) {
			acc.SetGeneration(old.GetGeneration() + 1)
		}
		switch {
		case tgt == wholeObject:
			// The server's own writes (binding) change what pod updates
			// may not; they are checked where they are made.
		case st.ValidateUpdate != nil:
			errs = append(errs, st.ValidateUpdate(obj, cur)...)
		case st.Validate != nil:
			errs = append(errs, st.Validate(obj)...)
		}
	case statusSubresource:
		if st.ValidateStatusUpdate != nil {
			errs = append(errs, st.ValidateStatusUpdate(obj, cur)...)
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.gvk.GroupKind(), acc.GetName(), errs)
	}
	if err := s.admit(ctx, s.validation, attrs); err != nil {
		return nil, err
	}
	return obj, nil
}

func keepManagedFields(dst, src runtime.Object) {
	d, _ := meta.Accessor(dst)
	s, _ := meta.Accessor(src)
	d.SetManagedFields(s.GetManagedFields())
}

// shouldDeleteDuringUpdate: an update that removes the last finalizer of
// an object already marked for deletion (with no grace period pending)
// completes the deletion, as upstream does.
func shouldDeleteDuringUpdate(obj, cur runtime.Object) bool {
	n, _ := meta.Accessor(obj)
	o, _ := meta.Accessor(cur)
	if len(n.GetFinalizers()) > 0 || len(o.GetFinalizers()) == 0 || o.GetDeletionTimestamp() == nil {
		return false
	}
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return false // the namespace controller has not emptied it yet
	}
	g := o.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

func setRV(acc metav1.Object, rev int64) {
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
}
