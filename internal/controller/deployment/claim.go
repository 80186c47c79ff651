package deployment

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
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/cache"
)

// podOwnerIndex indexes pods by their controller's UID, so a Recreate
// rollout finds the pods of its old ReplicaSets without scanning the
// namespace.
const podOwnerIndex = "skiff.deployment/controller-uid"

func addPodIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[podOwnerIndex]; ok {
		return nil
	}
	err := inf.AddIndexers(cache.Indexers{podOwnerIndex: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
			return []string{string(ref.UID)}, nil
		}
		return nil, nil
	}})
	if err != nil {
		return fmt.Errorf("indexing pods by controller: %w", err)
	}
	return nil
}

// podsOf returns the pods controlled by the ReplicaSet with uid.
func (c *Controller) podsOf(uid types.UID) []*corev1.Pod {
	objs, err := c.pods.ByIndex(podOwnerIndex, string(uid))
	if err != nil {
		return nil
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

// claimReplicaSets returns d's ReplicaSets after adopting matching orphans
// and releasing owned ones that stopped matching, as upstream's
// ReplicaSetControllerRefManager does.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has an invalid selector: %w", d.Namespace, d.Name, err)
	}
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var (
		checked  bool
		adoptErr error
		claimed  []*appsv1.ReplicaSet
		errs     []error
	)
	canAdopt := func() error {
		if !checked {
			checked = true
			adoptErr = c.recheckDeployment(ctx, d)
		}
		return adoptErr
	}
	for _, rs := range all {
		ok, err := c.claimReplicaSet(ctx, d, sel, rs, canAdopt)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			claimed = append(claimed, rs)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// recheckDeployment reads d live before adopting: a stale cache must not
// make a deleted Deployment adopt.
func (c *Controller) recheckDeployment(ctx context.Context, d *appsv1.Deployment) error {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("re-reading deployment %s/%s before adopting: %w", d.Namespace, d.Name, err)
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("original deployment %s/%s is gone: got uid %v, wanted %v", d.Namespace, d.Name, fresh.UID, d.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("deployment %s/%s has just been deleted at %v", d.Namespace, d.Name, fresh.DeletionTimestamp)
	}
	return nil
}

func (c *Controller) claimReplicaSet(ctx context.Context, d *appsv1.Deployment, sel labels.Selector, rs *appsv1.ReplicaSet, canAdopt func() error) (bool, error) {
	matches := !sel.Empty() && sel.Matches(labels.Set(rs.Labels))
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if ref.UID != d.UID {
			return false, nil
		}
		if matches {
			return true, nil
		}
		if d.DeletionTimestamp != nil {
			return false, nil
		}
		return false, c.patchOwnerRef(ctx, rs, map[string]any{"$patch": "delete", "uid": d.UID}, true)
	}
	if d.DeletionTimestamp != nil || !matches || rs.DeletionTimestamp != nil {
		return false, nil
	}
	if err := canAdopt(); err != nil {
		return false, err
	}
	ref := map[string]any{
		"apiVersion": controllerKind.GroupVersion().String(), "kind": controllerKind.Kind,
		"name": d.Name, "uid": d.UID, "controller": true, "blockOwnerDeletion": true,
	}
	if err := c.patchOwnerRef(ctx, rs, ref, false); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// patchOwnerRef adds or (with a $patch: delete entry) removes an owner
// reference by strategic merge patch, with the ReplicaSet's uid as a
// precondition against a same-named replacement.
func (c *Controller) patchOwnerRef(ctx context.Context, rs *appsv1.ReplicaSet, ref map[string]any, release bool) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{ref}, "uid": rs.UID,
	}})
	if err != nil {
		return err
	}
	_, err = c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	if release && (apierrors.IsNotFound(err) || apierrors.IsInvalid(err)) {
		return nil // nothing of ours is left to release
	}
	if err != nil {
		return fmt.Errorf("patching owner of ReplicaSet %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}
