package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// attemptToOrphanItem handles an owner deleted with the orphan policy:
// its reference is removed from every dependent the graph knows, then
// its orphan finalizer, which lets the API server finish the delete.
func (gc *Controller) attemptToOrphanItem(ctx context.Context, uid types.UID) (bool, error) {
	owner, ok := gc.graph.view(uid)
	if !ok {
		return false, nil
	}
	errs := make([]error, len(owner.dependents))
	workqueue.ParallelizeUntil(ctx, orphanParallelism, len(owner.dependents), func(i int) {
		d := owner.dependents[i]
		err := gc.patchOwnerRefs(ctx, d.identity, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return slices.DeleteFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == uid })
		})
		if err != nil {
			errs[i] = fmt.Errorf("orphaning %s: %w", d.identity, err)
		}
	})
	if err := utilerrors.NewAggregate(errs); err != nil {
		return false, fmt.Errorf("orphaning the dependents of %s: %w", owner.identity, err)
	}
	klog.FromContext(ctx).V(2).Info("Dependents orphaned; removing the orphan finalizer", "owner", owner.identity, "dependents", len(owner.dependents))
	return false, gc.removeFinalizer(ctx, owner.identity, metav1.FinalizerOrphanDependents)
}

// orphanParallelism bounds the concurrent ownerReference patches of one
// owner's dependents.
const orphanParallelism = 16

// maxPatchAttempts bounds the read-modify-write loops below; the queue's
// back-off takes over after that.
const maxPatchAttempts = 5

// patchOwnerRefs rewrites the ownerReferences of the object id names
// with mutate, as a JSON merge patch pinned to the resourceVersion just
// read (so it works for every kind, custom ones included, and never
// overwrites a concurrent change). A missing or replaced object needs
// nothing.
func (gc *Controller) patchOwnerRefs(ctx context.Context, id objectRef, mutate func([]metav1.OwnerReference) []metav1.OwnerReference) error {
	return gc.patchMetadata(ctx, id, func(latest *metav1.PartialObjectMetadata) map[string]any {
		refs := mutate(slices.Clone(latest.OwnerReferences))
		if equality.Semantic.DeepEqual(refs, latest.OwnerReferences) {
			return nil
		}
		return map[string]any{"ownerReferences": nilIfEmpty(refs)}
	})
}

// removeFinalizer removes one finalizer from the object id names.
func (gc *Controller) removeFinalizer(ctx context.Context, id objectRef, finalizer string) error {
	return gc.patchMetadata(ctx, id, func(latest *metav1.PartialObjectMetadata) map[string]any {
		if !slices.Contains(latest.Finalizers, finalizer) {
			return nil
		}
		kept := slices.DeleteFunc(slices.Clone(latest.Finalizers), func(f string) bool { return f == finalizer })
		return map[string]any{"finalizers": nilIfEmpty(kept)}
	})
}

// nilIfEmpty turns an empty list into JSON null, which a merge patch
// reads as "remove the field".
func nilIfEmpty[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

// patchMetadata reads the object, asks change for the metadata fields to
// set (nil: nothing to do) and writes them, retrying on conflicts.
func (gc *Controller) patchMetadata(ctx context.Context, id objectRef, change func(*metav1.PartialObjectMetadata) map[string]any) error {
	m, err := gc.restMapping(id.APIVersion, id.Kind)
	if err != nil {
		return err
	}
	ns := id.Namespace
	if !m.namespaced {
		ns = ""
	}
	client := gc.metadata.Resource(m.gvr).Namespace(ns)
	for attempt := 1; ; attempt++ {
		latest, err := client.Get(ctx, id.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && latest.UID != id.UID) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("getting %s: %w", id, err)
		}
		fields := change(latest)
		if fields == nil {
			return nil
		}
		patch, err := metadataMergePatch(latest.ResourceVersion, fields)
		if err != nil {
			return err
		}
		_, err = client.Patch(ctx, id.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err) && attempt < maxPatchAttempts:
			continue
		}
		return fmt.Errorf("patching %s: %w", id, err)
	}
}

// metadataMergePatch builds {"metadata": {fields..., "resourceVersion": rv}}.
// Example: rv "7" and {"finalizers": nil} give
// {"metadata":{"finalizers":null,"resourceVersion":"7"}}.
func metadataMergePatch(resourceVersion string, fields map[string]any) ([]byte, error) {
	md := map[string]any{"resourceVersion": resourceVersion}
	for k, v := range fields {
		md[k] = v
	}
	b, err := json.Marshal(map[string]any{"metadata": md})
	if err != nil {
		return nil, fmt.Errorf("encoding metadata patch: %w", err)
	}
	return b, nil
}
