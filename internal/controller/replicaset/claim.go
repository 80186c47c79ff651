package replicaset

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// claimPods returns the pods o controls after adopting matching orphans
// and releasing owned pods whose labels no longer match, as upstream's
// PodControllerRefManager does. Pods controlled by anything else are
// ignored.
func (c *Controller) claimPods(ctx context.Context, o *owner, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var (
		checked  bool
		adoptErr error
	)
	// canAdopt re-reads the owner live once per sync: adopting for an
	// owner that a stale cache still shows, but that was deleted, would
	// leave pods pointing at nothing.
	canAdopt := func() error {
		if !checked {
			checked = true
			adoptErr = c.recheckOwner(ctx, o)
		}
		return adoptErr
	}
	var claimed []*corev1.Pod
	var errs []error
	for _, p := range pods {
		ok, err := c.claimPod(ctx, o, p, canAdopt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, p)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

func (c *Controller) recheckOwner(ctx context.Context, o *owner) error {
	fresh, err := c.kind.getLive(ctx, o.meta.GetNamespace(), o.meta.GetName())
	if err != nil {
		return fmt.Errorf("re-reading %s %s/%s before adopting: %w", c.kind.gvk().Kind, o.meta.GetNamespace(), o.meta.GetName(), err)
	}
	if fresh.GetUID() != o.meta.GetUID() {
		return fmt.Errorf("original %s %s/%s is gone: got uid %v, wanted %v", c.kind.gvk().Kind, o.meta.GetNamespace(), o.meta.GetName(), fresh.GetUID(), o.meta.GetUID())
	}
	if fresh.GetDeletionTimestamp() != nil {
		return fmt.Errorf("%s %s/%s has just been deleted at %v", c.kind.gvk().Kind, o.meta.GetNamespace(), o.meta.GetName(), fresh.GetDeletionTimestamp())
	}
	return nil
}

func (c *Controller) claimPod(ctx context.Context, o *owner, p *corev1.Pod, canAdopt func() error) (bool, error) {
	matches := o.selector.Matches(labels.Set(p.Labels))
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		if ref.UID != o.meta.GetUID() {
			return false, nil
		}
		if matches {
			return true, nil
		}
		// Ours but no longer selected: let go of it, unless we are being
		// deleted (the garbage collector then handles our pods).
		if o.meta.GetDeletionTimestamp() != nil {
			return false, nil
		}
		if err := c.releasePod(ctx, o, p); err != nil {
			return false, err
		}
		return false, nil
	}
	// An orphan: adopt it if it matches and neither side is going away.
	if o.meta.GetDeletionTimestamp() != nil || !matches || p.DeletionTimestamp != nil || p.Namespace != o.meta.GetNamespace() {
		return false, nil
	}
	if err := canAdopt(); err != nil {
		return false, err
	}
	if err := c.adoptPod(ctx, o, p); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ownerRefPatch is a strategic merge patch on metadata.ownerReferences
// (merge key uid). The pod's uid rides along as a precondition: a pod
// deleted and recreated under the same name makes the patch invalid
// instead of touching the new pod.
type ownerRefPatch struct {
	Metadata struct {
		OwnerReferences []map[string]any `json:"ownerReferences"`
		UID             types.UID        `json:"uid"`
	} `json:"metadata"`
}

func (c *Controller) adoptPod(ctx context.Context, o *owner, p *corev1.Pod) error {
	gvk := c.kind.gvk()
	var patch ownerRefPatch
	patch.Metadata.UID = p.UID
	patch.Metadata.OwnerReferences = []map[string]any{{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind,
		"name": o.meta.GetName(), "uid": o.meta.GetUID(),
		"controller": true, "blockOwnerDeletion": true,
	}}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("adopting pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func (c *Controller) releasePod(ctx context.Context, o *owner, p *corev1.Pod) error {
	var patch ownerRefPatch
	patch.Metadata.UID = p.UID
	patch.Metadata.OwnerReferences = []map[string]any{{"$patch": "delete", "uid": o.meta.GetUID()}}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	// Gone, or recreated under the same name (uid mismatch is Invalid):
	// either way there is nothing of ours left to release.
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("releasing pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}
