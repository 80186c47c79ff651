package history

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// maxCollisions bounds the renaming loop of Create. Each round is one
// create; a real FNV collision is rare enough that a handful of rounds
// without success means something else is wrong (a revision that keeps
// being recreated under us), and a retry with back-off is better.
const maxCollisions = 10

// Client reads revisions from an informer cache and writes them through
// the API server.
type Client struct {
	Client kubernetes.Interface
	Lister appslisters.ControllerRevisionLister
}

// Claim returns owner's revisions: those it controls that still match
// selector, plus orphans matching selector, which it adopts. Revisions it
// controls that no longer match are released. canAdopt is called once,
// before the first adoption, to confirm with a live read that owner is
// not being deleted (upstream's RecheckDeletionTimestamp).
func (c Client) Claim(ctx context.Context, owner metav1.Object, ownerKind schema.GroupVersionKind, selector labels.Selector, canAdopt func(context.Context) error) ([]*appsv1.ControllerRevision, error) {
	all, err := c.Lister.ControllerRevisions(owner.GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing controller revisions: %w", err)
	}
	var claimed []*appsv1.ControllerRevision
	adoptChecked := false
	for _, rev := range all {
		ref := metav1.GetControllerOfNoCopy(rev)
		matches := selector.Matches(labels.Set(rev.Labels))
		switch {
		case ref != nil && ref.UID == owner.GetUID() && matches:
			claimed = append(claimed, rev)
		case ref != nil && ref.UID == owner.GetUID():
			if err := c.setOwners(ctx, rev, withoutOwner(rev.OwnerReferences, owner.GetUID())); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("releasing revision %s: %w", rev.Name, err)
			}
		case ref == nil && matches && rev.DeletionTimestamp == nil:
			if !adoptChecked {
				if err := canAdopt(ctx); err != nil {
					return nil, fmt.Errorf("cannot adopt revisions: %w", err)
				}
				adoptChecked = true
			}
			refs := append(withoutOwner(rev.OwnerReferences, owner.GetUID()), *metav1.NewControllerRef(owner, ownerKind))
			adopted := rev.DeepCopy()
			adopted.OwnerReferences = refs
			if err := c.setOwners(ctx, rev, refs); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("adopting revision %s: %w", rev.Name, err)
			}
			claimed = append(claimed, adopted)
		}
	}
	return claimed, nil
}

func withoutOwner(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, 0, len(refs)+1)
	for _, r := range refs {
		if r.UID != uid {
			out = append(out, r)
		}
	}
	return out
}

// setOwners replaces rev's owner references. The patch carries the
// resourceVersion and uid it was computed from, so it fails with a
// conflict instead of overwriting a concurrent change.
func (c Client) setOwners(ctx context.Context, rev *appsv1.ControllerRevision, refs []metav1.OwnerReference) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "resourceVersion": rev.ResourceVersion, "uid": rev.UID,
	}})
	if err != nil {
		return err
	}
	_, err = c.Client.AppsV1().ControllerRevisions(rev.Namespace).Patch(ctx, rev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// Create creates rev for owner, naming it <owner>-<hash> and labelling it
// hashLabel=<hash>. If another revision with different data holds the
// name, *collisionCount is incremented and the hash recomputed, as
// upstream does; the caller persists the new count in owner's status. A
// revision with equal data under the name is returned as is: it is ours
// from an earlier sync whose create the cache has not shown yet.
func (c Client) Create(ctx context.Context, owner metav1.Object, rev *appsv1.ControllerRevision, hashLabel string, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	if collisionCount == nil {
		return nil, fmt.Errorf("creating revision for %s: nil collision count", owner.GetName())
	}
	for range maxCollisions {
		hash := Hash(rev.Data.Raw, collisionCount)
		clone := rev.DeepCopy()
		clone.Name = Name(owner.GetName(), hash)
		clone.Namespace = owner.GetNamespace()
		if clone.Labels == nil {
			clone.Labels = map[string]string{}
		}
		clone.Labels[hashLabel] = hash
		created, err := c.Client.AppsV1().ControllerRevisions(clone.Namespace).Create(ctx, clone, metav1.CreateOptions{})
		if err == nil {
			return created, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating revision %s: %w", clone.Name, err)
		}
		existing, err := c.Client.AppsV1().ControllerRevisions(clone.Namespace).Get(ctx, clone.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading colliding revision %s: %w", clone.Name, err)
		}
		if EqualData(existing.Data.Raw, clone.Data.Raw) && metav1.IsControlledBy(existing, owner) {
			return existing, nil
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("creating revision for %s: %d name collisions", owner.GetName(), maxCollisions)
}

// Renumber sets rev's revision number (a rollback to rev makes it the
// newest again).
func (c Client) Renumber(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == revision {
		return rev, nil
	}
	clone := rev.DeepCopy()
	clone.Revision = revision
	updated, err := c.Client.AppsV1().ControllerRevisions(rev.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("renumbering revision %s to %d: %w", rev.Name, revision, err)
	}
	return updated, nil
}

// Delete deletes rev; one already gone counts as deleted.
func (c Client) Delete(ctx context.Context, rev *appsv1.ControllerRevision) error {
	err := c.Client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting revision %s: %w", rev.Name, err)
	}
	return nil
}
