package daemonset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// canAdopt returns the check run before the first adoption of a sync: a
// live read (not the cache) that ds still exists with the same UID and is
// not being deleted, so a dying DaemonSet does not grab pods the garbage
// collector is about to orphan.
func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fresh.UID != ds.UID {
			return fmt.Errorf("daemon set %s/%s was recreated (uid %s, want %s)", ds.Namespace, ds.Name, fresh.UID, ds.UID)
		}
		if fresh.DeletionTimestamp != nil {
			return fmt.Errorf("daemon set %s/%s is being deleted", ds.Namespace, ds.Name)
		}
		return nil
	}
}

// claimPods returns the pods ds controls, adopting orphans its selector
// matches and releasing pods it controls that the selector no longer
// matches (upstream's PodControllerRefManager).
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	check := c.canAdopt(ds)
	checked := false
	var claimed []*corev1.Pod
	for _, pod := range all {
		ref := metav1.GetControllerOfNoCopy(pod)
		matches := selector.Matches(labels.Set(pod.Labels))
		switch {
		case ref != nil && ref.UID != ds.UID:
		case ref != nil && matches:
			claimed = append(claimed, pod)
		case ref != nil:
			if err := c.setPodOwners(ctx, pod, withoutOwner(pod.OwnerReferences, ds.UID)); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("releasing pod %s: %w", pod.Name, err)
			}
		case matches && pod.DeletionTimestamp == nil:
			if !checked {
				if err := check(ctx); err != nil {
					return nil, fmt.Errorf("cannot adopt pods: %w", err)
				}
				checked = true
			}
			refs := append(withoutOwner(pod.OwnerReferences, ds.UID), *metav1.NewControllerRef(ds, controllerKind))
			if err := c.setPodOwners(ctx, pod, refs); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("adopting pod %s: %w", pod.Name, err)
			}
			adopted := pod.DeepCopy()
			adopted.OwnerReferences = refs
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

// setPodOwners replaces pod's owner references, guarded by the
// resourceVersion it was computed from.
func (c *Controller) setPodOwners(ctx context.Context, pod *corev1.Pod, refs []metav1.OwnerReference) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "resourceVersion": pod.ResourceVersion, "uid": pod.UID,
	}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}
