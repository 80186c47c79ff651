package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// errNamespacedOwnerOfClusterScoped: a cluster-scoped object names an
// owner of a namespaced kind, which no retry can resolve.
var errNamespacedOwnerOfClusterScoped = errors.New("cluster-scoped object cannot refer to a namespace-scoped owner")

// Event reasons.
const ReasonOwnerRefInvalidNamespace = "OwnerRefInvalidNamespace"

const invalidClusterScopedRef = "a cluster-scoped object cannot be owned by an object of a namespaced kind; the ownerRef is ignored"

// attemptToDeleteItem looks at the live object behind a node and deletes
// it if none of its owners exists any more, as upstream's
// attemptToDeleteItem does. Every owner is checked with a GET (uid
// included), never by the graph alone.
func (gc *Controller) attemptToDeleteItem(ctx context.Context, uid types.UID) (bool, error) {
	item, ok := gc.graph.view(uid)
	if !ok {
		return false, nil
	}
	// Being deleted is a one-way trip; its dependents are handled when
	// the delete is observed.
	if item.beingDeleted && !item.deletingDependents {
		return false, nil
	}
	latest, err := gc.getObject(ctx, item.identity)
	if errors.Is(err, errNamespacedOwnerOfClusterScoped) {
		// A virtual owner only cluster-scoped objects name, of a
		// namespaced kind: it cannot exist, and they cannot be its
		// dependents. Warn on them and leave everything as it is.
		for _, d := range item.dependents {
			gc.reportInvalidNamespace(d.identity, invalidClusterScopedRef)
		}
		return false, nil
	}
	if apierrors.IsNotFound(err) || (err == nil && latest.UID != item.identity.UID) {
		// Gone, or replaced by another object of the same name.
		gc.observe(event{deleted: true, virtual: true, identity: item.identity})
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if item.deletingDependents {
		return false, gc.processDeletingDependents(ctx, item)
	}
	if len(latest.OwnerReferences) > 0 {
		if err := gc.collect(ctx, item, latest); err != nil {
			return false, err
		}
	}
	// A virtual node is looked at until an informer shows it, so that one
	// created and deleted while a watch was down cannot linger.
	return !item.observed, nil
}

// collect classifies latest's owners and acts on the decision.
func (gc *Controller) collect(ctx context.Context, item nodeView, latest *metav1.PartialObjectMetadata) error {
	solid, dangling, waiting, err := gc.classifyReferences(ctx, item.identity, latest.OwnerReferences)
	if errors.Is(err, errNamespacedOwnerOfClusterScoped) {
		gc.reportInvalidNamespace(item.identity, invalidClusterScopedRef)
		return nil
	}
	if err != nil {
		return err
	}
	d := decide(latest.Finalizers, solid, dangling, waiting, item.dependents)
	logger := klog.FromContext(ctx)
	switch d.action {
	case actionRemoveRefs:
		logger.V(2).Info("Removing ownerReferences to absent or foreground-deleted owners", "item", item.identity, "owners", d.removeRefs)
		return gc.patchOwnerRefs(ctx, item.identity, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return slices.DeleteFunc(refs, func(r metav1.OwnerReference) bool { return slices.Contains(d.removeRefs, r.UID) })
		})
	case actionDelete:
		if d.unblockFirst {
			// Owner and dependent both wait for each other's dependents:
			// stop blocking owners so the cycle cannot deadlock.
			if err := gc.patchOwnerRefs(ctx, item.identity, unblockAll); err != nil {
				return err
			}
		}
		logger.V(2).Info("Deleting object whose owners are gone", "item", item.identity, "propagationPolicy", d.policy)
		return gc.deleteObject(ctx, item.identity, d.policy)
	}
	return nil
}

func unblockAll(refs []metav1.OwnerReference) []metav1.OwnerReference {
	for i := range refs {
		if blocking(refs[i]) {
			refs[i].BlockOwnerDeletion = new(false)
		}
	}
	return refs
}

type action int

const (
	actionNone action = iota
	actionRemoveRefs
	actionDelete
)

// decision is what to do with an object given its owners' state.
type decision struct {
	action     action
	removeRefs []types.UID
	policy     metav1.DeletionPropagation
	// unblockFirst: make the object's ownerReferences non-blocking before
	// deleting it, to break a foreground cycle.
	unblockFirst bool
}

// decide is upstream's rule. solid owners exist and are not deleting in
// the foreground; dangling ones do not exist; waiting ones are being
// deleted in the foreground and wait for their dependents.
//
//   - Some owner is solid: keep the object, but drop references to
//     dangling and waiting owners (a waiting owner would otherwise wait
//     forever for this object).
//   - An owner waits and the object has dependents of its own: delete it
//     in the foreground too, so the owner sees its whole subtree go first.
//   - Otherwise delete it, honouring an orphan or foreground finalizer it
//     already carries, else in the background.
func decide(finalizers []string, solid, dangling, waiting []metav1.OwnerReference, dependents []dependentView) decision {
	switch {
	case len(solid) > 0:
		if len(dangling)+len(waiting) == 0 {
			return decision{action: actionNone}
		}
		var uids []types.UID
		for _, r := range append(slices.Clone(dangling), waiting...) {
			uids = append(uids, r.UID)
		}
		return decision{action: actionRemoveRefs, removeRefs: uids}
	case len(waiting) > 0 && len(dependents) > 0:
		cycle := slices.ContainsFunc(dependents, func(d dependentView) bool { return d.deletingDependents })
		return decision{action: actionDelete, policy: metav1.DeletePropagationForeground, unblockFirst: cycle}
	case slices.Contains(finalizers, metav1.FinalizerOrphanDependents):
		return decision{action: actionDelete, policy: metav1.DeletePropagationOrphan}
	case slices.Contains(finalizers, metav1.FinalizerDeleteDependents):
		return decision{action: actionDelete, policy: metav1.DeletePropagationForeground}
	}
	return decision{action: actionDelete, policy: metav1.DeletePropagationBackground}
}

// classifyReferences sorts an object's owner references by the live
// state of each owner.
func (gc *Controller) classifyReferences(ctx context.Context, item objectRef, refs []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	for _, ref := range refs {
		isDangling, owner, err := gc.isDangling(ctx, ref, item)
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case isDangling:
			dangling = append(dangling, ref)
		case owner.DeletionTimestamp != nil && slices.Contains(owner.Finalizers, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	return solid, dangling, waiting, nil
}

// isDangling reports whether ref names an owner that does not exist: a
// GET finds nothing, or finds another object (uid mismatch) under the
// name. A namespaced owner is looked up in the dependent's namespace.
func (gc *Controller) isDangling(ctx context.Context, ref metav1.OwnerReference, item objectRef) (bool, *metav1.PartialObjectMetadata, error) {
	clusterKey, nsKey := ownerIdentity(ref, ""), ownerIdentity(ref, item.Namespace)
	mapping, mapErr := gc.restMapping(ref.APIVersion, ref.Kind)
	// Checked before the absent cache: a namespaced kind has no
	// cluster-scoped instance, yet that is no reason to delete the
	// object naming one.
	if mapErr == nil && mapping.namespaced && item.Namespace == "" {
		return false, nil, errNamespacedOwnerOfClusterScoped
	}
	// The cache also answers for kinds no longer served (a deleted CRD's
	// objects were seen going).
	if gc.absent.has(clusterKey) || (item.Namespace != "" && gc.absent.has(nsKey)) {
		return true, nil, nil
	}
	if mapErr != nil {
		return false, nil, mapErr
	}
	key := clusterKey
	if mapping.namespaced {
		key = nsKey
	}
	owner, err := gc.metadata.Resource(mapping.gvr).Namespace(key.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		gc.absent.add(key)
		return true, nil, nil
	case err != nil:
		return false, nil, fmt.Errorf("getting owner %s of %s: %w", key, item, err)
	case owner.UID != ref.UID:
		gc.absent.add(key)
		return true, nil, nil
	}
	return false, owner, nil
}

type restMapping struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

// restMapping resolves an apiVersion and kind. A kind not served (yet:
// a CRD the mapper has not seen) is an error to retry, not an absence.
func (gc *Controller) restMapping(apiVersion, kind string) (restMapping, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return restMapping{}, fmt.Errorf("parsing apiVersion %q: %w", apiVersion, err)
	}
	m, err := gc.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		return restMapping{}, fmt.Errorf("mapping %s %s to a resource: %w", apiVersion, kind, err)
	}
	return restMapping{gvr: m.Resource, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

// getObject reads the live metadata of the object a node names.
func (gc *Controller) getObject(ctx context.Context, id objectRef) (*metav1.PartialObjectMetadata, error) {
	m, err := gc.restMapping(id.APIVersion, id.Kind)
	if err != nil {
		return nil, err
	}
	ns := id.Namespace
	if !m.namespaced {
		ns = ""
	} else if ns == "" {
		// Only a cluster-scoped dependent names an owner of a namespaced
		// kind without a namespace.
		return nil, errNamespacedOwnerOfClusterScoped
	}
	return gc.metadata.Resource(m.gvr).Namespace(ns).Get(ctx, id.Name, metav1.GetOptions{})
}

// deleteObject deletes the object a node names, only if it is still the
// same object (uid precondition).
func (gc *Controller) deleteObject(ctx context.Context, id objectRef, policy metav1.DeletionPropagation) error {
	m, err := gc.restMapping(id.APIVersion, id.Kind)
	if err != nil {
		return err
	}
	ns := id.Namespace
	if !m.namespaced {
		ns = ""
	}
	uid := id.UID
	err = gc.metadata.Resource(m.gvr).Namespace(ns).Delete(ctx, id.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		// A uid conflict means the name now holds another object: the
		// retry finds that out and drops the node.
		return fmt.Errorf("deleting %s: %w", id, err)
	}
	return nil
}

// processDeletingDependents handles an owner deleted in the foreground:
// once no dependent blocks it any more its foregroundDeletion finalizer
// goes (and with it the owner); until then its blocking dependents are
// queued for deletion. The removal of each brings the owner back here.
func (gc *Controller) processDeletingDependents(ctx context.Context, item nodeView) error {
	var blocking []dependentView
	for _, d := range item.dependents {
		if d.blocking {
			blocking = append(blocking, d)
		}
	}
	if len(blocking) == 0 {
		klog.FromContext(ctx).V(2).Info("No blocking dependents left; removing the foregroundDeletion finalizer", "item", item.identity)
		return gc.removeFinalizer(ctx, item.identity, metav1.FinalizerDeleteDependents)
	}
	for _, d := range blocking {
		if !d.deletingDependents {
			gc.attemptToDelete.Add(d.identity.UID)
		}
	}
	return nil
}

// reportInvalidNamespace records a warning event on the dependent.
func (gc *Controller) reportInvalidNamespace(dependent objectRef, message string) {
	ref := &corev1.ObjectReference{APIVersion: dependent.APIVersion, Kind: dependent.Kind,
		Namespace: dependent.Namespace, Name: dependent.Name, UID: dependent.UID}
	gc.recorder.Event(ref, corev1.EventTypeWarning, ReasonOwnerRefInvalidNamespace, message)
}
