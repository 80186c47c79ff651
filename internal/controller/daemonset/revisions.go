package daemonset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-sh/skiff/internal/controller/history"
)

// constructHistory returns the revision of ds's current template (creating
// or renumbering it as needed) and its older revisions. The current
// revision's hash label is what new pods are labelled with.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, pods []*corev1.Pod) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	revs, err := c.history.Claim(ctx, ds, controllerKind, selector, c.canAdopt(ds))
	if err != nil {
		return nil, nil, err
	}
	patch, err := history.TemplatePatch(&ds.Spec.Template)
	if err != nil {
		return nil, nil, err
	}
	var matching []*appsv1.ControllerRevision
	for _, rev := range revs {
		if rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" {
			// Revisions from before hash labels: the name is unique, so
			// it serves as the hash.
			if rev, err = c.labelRevision(ctx, rev); err != nil {
				return nil, nil, err
			}
		}
		if history.EqualData(rev.Data.Raw, patch) {
			matching = append(matching, rev)
		} else {
			old = append(old, rev)
		}
	}
	next := history.MaxRevision(old) + 1
	if len(matching) == 0 {
		cur, err = c.snapshot(ctx, ds, patch, next)
		return cur, old, err
	}
	if cur, err = c.dedupRevisions(ctx, matching, pods); err != nil {
		return nil, nil, err
	}
	// A rollback to an older template makes its revision the newest.
	if cur, err = c.history.Renumber(ctx, cur, max(cur.Revision, next)); err != nil {
		return nil, nil, err
	}
	return cur, old, nil
}

func (c *Controller) labelRevision(ctx context.Context, rev *appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	upd := rev.DeepCopy()
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	upd.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = upd.Name
	out, err := c.client.AppsV1().ControllerRevisions(rev.Namespace).Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("labelling revision %s: %w", rev.Name, err)
	}
	return out, nil
}

// snapshot records ds's template as a new revision. A name collision bumps
// status.collisionCount, which the status write persists, so the next
// sync hashes with the new count.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, patch []byte, revision int64) (*appsv1.ControllerRevision, error) {
	var collisions int32
	if ds.Status.CollisionCount != nil {
		collisions = *ds.Status.CollisionCount
	}
	before := collisions
	rev := history.New(ds, controllerKind, ds.Spec.Template.Labels, ds.Annotations, patch, revision)
	created, err := c.history.Create(ctx, ds, rev, appsv1.DefaultDaemonSetUniqueLabelKey, &collisions)
	if collisions != before {
		upd := ds.DeepCopy()
		upd.Status.CollisionCount = &collisions
		if _, uerr := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); uerr != nil {
			return nil, fmt.Errorf("recording collision count of daemon set %s: %w", ds.Name, uerr)
		}
	}
	if err != nil {
		return nil, err
	}
	return created, nil
}

// dedupRevisions keeps the newest of several revisions with the same
// template, moving pods labelled with the others onto it.
func (c *Controller) dedupRevisions(ctx context.Context, revs []*appsv1.ControllerRevision, pods []*corev1.Pod) (*appsv1.ControllerRevision, error) {
	keep := revs[0]
	for _, r := range revs[1:] {
		if r.Revision >= keep.Revision {
			keep = r
		}
	}
	if len(revs) == 1 {
		return keep, nil
	}
	hash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}}})
	if err != nil {
		return nil, err
	}
	for _, pod := range pods {
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			continue
		}
		if _, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return nil, fmt.Errorf("relabelling pod %s: %w", pod.Name, err)
		}
	}
	for _, r := range revs {
		if r.Name != keep.Name {
			if err := c.history.Delete(ctx, r); err != nil {
				return nil, err
			}
		}
	}
	return keep, nil
}

// cleanupHistory deletes the oldest revisions beyond revisionHistoryLimit,
// sparing any that a live pod still runs.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	excess := len(old) - limit
	if excess <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, pod := range pods {
		if h := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
			live[h] = true
		}
	}
	history.Sort(old)
	for _, rev := range old {
		if excess == 0 {
			break
		}
		if live[rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if err := c.history.Delete(ctx, rev); err != nil {
			return err
		}
		excess--
	}
	return nil
}
