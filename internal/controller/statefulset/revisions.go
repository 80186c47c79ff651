package statefulset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/internal/controller/history"
)

// revisionView is the set as seen at its two revisions: currentSet and
// updateSet carry the templates of the current and update revisions.
type revisionView struct {
	set, currentSet, updateSet      *appsv1.StatefulSet
	currentRevision, updateRevision string
	current, update                 *appsv1.ControllerRevision
	collisionCount                  int32
}

// resolveRevisions finds (or records) the revision of set's template,
// which is the update revision, and the revision status names current.
// revs must be sorted oldest first.
//
// Example: revisions 1 (template A) and 2 (B), set back at template A:
// A is renumbered 3 and becomes the update revision (a rollback); the
// current revision stays whatever status says, B, until the rollout ends.
func (c *Controller) resolveRevisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (*revisionView, error) {
	rv := &revisionView{set: set}
	if set.Status.CollisionCount != nil {
		rv.collisionCount = *set.Status.CollisionCount
	}
	patch, err := history.TemplatePatch(&set.Spec.Template)
	if err != nil {
		return nil, err
	}
	next := history.MaxRevision(revs) + 1
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if history.EqualData(r.Data.Raw, patch) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		rv.update = revs[len(revs)-1]
	case len(equal) > 0:
		if rv.update, err = c.history.Renumber(ctx, equal[len(equal)-1], next); err != nil {
			return nil, err
		}
	default:
		rev := history.New(set, controllerKind, set.Spec.Template.Labels, set.Annotations, patch, next)
		if rv.update, err = c.history.Create(ctx, set, rev, history.HashLabel, &rv.collisionCount); err != nil {
			return nil, err
		}
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			rv.current = r
			break
		}
	}
	if rv.current == nil {
		// A new set, or its current revision was lost: start history at
		// the update revision.
		rv.current = rv.update
	}
	rv.currentRevision, rv.updateRevision = rv.current.Name, rv.update.Name
	if rv.currentSet, err = withRevision(set, rv.current); err != nil {
		return nil, err
	}
	if rv.updateSet, err = withRevision(set, rv.update); err != nil {
		return nil, err
	}
	return rv, nil
}

// withRevision returns a copy of set with the template rev restores.
func withRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	t, err := history.TemplateFromPatch(rev.Data.Raw)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", rev.Name, err)
	}
	out := set.DeepCopy()
	out.Spec.Template = *t
	return out, nil
}

// truncateHistory deletes the oldest revisions beyond revisionHistoryLimit
// that neither status nor any pod refers to. revs is sorted oldest first.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, rv *revisionView) error {
	live := map[string]bool{}
	if rv != nil {
		live[rv.currentRevision], live[rv.updateRevision] = true, true
	}
	for _, pod := range pods {
		live[podRevision(pod)] = true
	}
	var dead []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			dead = append(dead, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	for i := 0; i < len(dead)-limit; i++ {
		if err := c.history.Delete(ctx, dead[i]); err != nil {
			return err
		}
	}
	return nil
}
