package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/internal/storage"
)

// deleteOptions reads DeleteOptions from the body, or from the query as
// older clients send them.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		dec, err := s.codecs.requestDecoder(r.Header.Get("Content-Type"), false)
		if err != nil {
			return nil, err
		}
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		if _, _, err := dec.Decode(body, &gvk, opts); err != nil {
			return nil, badRequest("invalid DeleteOptions: %v", err)
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest("invalid gracePeriodSeconds: %q", v)
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b := isTrue(v)
		opts.OrphanDependents = &b //nolint:staticcheck // still sent by old clients
	}
	if d, err := dryRun(r); err != nil {
		return nil, err
	} else if d {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, badRequest("dryRun: Unsupported value: %q: supported values: \"All\"", v)
		}
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q", *p))
		}
		if opts.OrphanDependents != nil { //nolint:staticcheck
			return nil, badRequest("propagationPolicy: Invalid value: cannot set both propagationPolicy and orphanDependents")
		}
	}
	return opts, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	out, deleted, err := s.deleteObject(r.Context(), res, info.Namespace, info.Name, opts)
	if err != nil {
		return err
	}
	if deleted && !returnsDeletedObject(res) {
		acc, _ := meta.Accessor(out)
		s.writeObject(w, r, http.StatusOK, statusSuccess(res.gvk, res.groupResource(), acc.GetName(), string(acc.GetUID())))
		return nil
	}
	return s.respondObject(w, r, res, http.StatusOK, out)
}

// returnsDeletedObject: upstream answers deletes of pods and services with
// the deleted object and of everything else with a Status.
func returnsDeletedObject(res *resource) bool {
	return res.GVR.Group == "" && (res.GVR.Resource == "pods" || res.GVR.Resource == "services")
}

// Namespaces upstream refuses to delete.
var undeletableNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic}

// deleteObject deletes one object, or marks it for deletion when a grace
// period or finalizers must run first. It reports whether the object is
// gone.
func (s *Server) deleteObject(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	if res.GVR.Group == "" && res.GVR.Resource == "namespaces" && slices.Contains(undeletableNamespaces, name) {
		return nil, false, apierrors.NewForbidden(res.groupResource(), name, errors.New("this namespace may not be deleted"))
	}
	key := res.key(namespace, name)
	dry := len(opts.DryRun) > 0
	fromStore := false
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.current(ctx, res, key, fromStore)
		if err != nil {
			return nil, false, storeError(err, res.groupResource(), name)
		}
		cur = cur.DeepCopyObject()
		acc, _ := meta.Accessor(cur)
		if err := checkPreconditions(res, acc, opts.Preconditions); err != nil {
			if !fromStore {
				fromStore = true
				continue
			}
			return nil, false, err
		}
		marked, pending := s.markForDeletion(res, cur, opts)
		var out runtime.Object = cur
		switch {
		case dry:
			return cur, !pending, nil
		case pending && !marked && !fromStore:
			// Nothing would change, but the cache may not have seen the
			// latest write yet (a finalizer just removed): decide on the
			// stored object, as upstream's store re-reads before a no-op.
			fromStore = true
			continue
		case pending && !marked:
			return cur, false, nil // already being deleted; nothing changes
		case pending:
			value, encErr := s.encodeForStore(res, cur)
			if encErr != nil {
				return nil, false, encErr
			}
			var newRev int64
			newRev, err = s.store.Update(ctx, key, value, rev)
			if err == nil {
				setRV(acc, newRev)
			}
		default:
			var delRev int64
			delRev, _, err = s.store.Delete(ctx, key, rev)
			if err == nil {
				setRV(acc, delRev)
				s.afterDelete(res, cur)
			}
		}
		if errors.Is(err, storage.ErrConflict) && attempt < maxConflictRetries {
			fromStore = true
			continue
		}
		if err != nil {
			return nil, false, storeError(err, res.groupResource(), name)
		}
		return out, !pending, nil
	}
}

func checkPreconditions(res *resource, acc metav1.Object, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	if p.UID != nil && *p.UID != acc.GetUID() {
		return apierrors.NewConflict(res.groupResource(), acc.GetName(),
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, acc.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != acc.GetResourceVersion() {
		return apierrors.NewConflict(res.groupResource(), acc.GetName(),
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, acc.GetResourceVersion()))
	}
	return nil
}

// markForDeletion applies a delete request to obj in place. pending means
// the object must stay (grace period or finalizers), marked means obj was
// changed and must be written.
func (s *Server) markForDeletion(res *resource, obj runtime.Object, opts *metav1.DeleteOptions) (marked, pending bool) {
	acc, _ := meta.Accessor(obj)
	finalizers := gcFinalizers(acc.GetFinalizers(), opts)
	if !slices.Equal(finalizers, acc.GetFinalizers()) {
		acc.SetFinalizers(finalizers)
		marked = true
	}
	grace := gracePeriod(obj, opts)
	ns, isNamespace := obj.(*corev1.Namespace)
	pending = len(finalizers) > 0 || grace > 0 || (isNamespace && len(ns.Spec.Finalizers) > 0)
	if !pending {
		return marked, false
	}
	now := metav1.NewTime(s.now())
	if ts := acc.GetDeletionTimestamp(); ts == nil {
		deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
		acc.SetDeletionTimestamp(&deadline)
		acc.SetDeletionGracePeriodSeconds(&grace)
		marked = true
	} else if cur := acc.GetDeletionGracePeriodSeconds(); cur != nil && grace < *cur {
		// A later delete may shorten a pending grace period, never extend it.
		deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
		if deadline.Before(ts) {
			acc.SetDeletionTimestamp(&deadline)
		}
		acc.SetDeletionGracePeriodSeconds(&grace)
		marked = true
	}
	if isNamespace && ns.Status.Phase != corev1.NamespaceTerminating {
		ns.Status.Phase = corev1.NamespaceTerminating
		marked = true
	}
	return marked, true
}

// gcFinalizers records the propagation policy for the garbage collector as
// upstream does: the orphan or foregroundDeletion finalizer.
func gcFinalizers(finalizers []string, opts *metav1.DeleteOptions) []string {
	var policy metav1.DeletionPropagation
	switch o := opts.OrphanDependents; { //nolint:staticcheck
	case opts.PropagationPolicy != nil:
		policy = *opts.PropagationPolicy
	case o != nil && *o:
		policy = metav1.DeletePropagationOrphan
	case o != nil:
		policy = metav1.DeletePropagationBackground
	default:
		// No policy: a policy recorded by an earlier delete stands.
		return finalizers
	}
	out := slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool {
		return f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents
	})
	switch policy {
	case metav1.DeletePropagationOrphan:
		out = append(out, metav1.FinalizerOrphanDependents)
	case metav1.DeletePropagationForeground:
		out = append(out, metav1.FinalizerDeleteDependents)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// gracePeriod is how long a deleted object lingers before removal. Only
// pods that a node may be running have one.
func gracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if grace < 0 {
		grace = 1 // upstream turns negative values into the minimum
	}
	return grace
}

// afterDelete releases what a deleted object held.
func (s *Server) afterDelete(res *resource, obj runtime.Object) {
	if h := res.Strategy.Hooks; h != nil {
		h.AfterDelete(obj)
	}
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	sel, err := parseSelection(res, r.URL.Query())
	if err != nil {
		return err
	}
	if err := s.awaitRV(r.Context(), -1); err != nil {
		return err
	}
	items, _ := res.cache.List(sel.prefix(res, info.Namespace), sel.filter)
	for _, o := range items {
		_, _, err := s.deleteObject(r.Context(), res, o.Fields.Get("metadata.namespace"), o.Fields.Get("metadata.name"), opts)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	s.writeObject(w, r, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
	return nil
}
