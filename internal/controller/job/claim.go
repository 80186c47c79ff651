package job

import (
	"context"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// claimPods returns the pods the Job owns, reconciling ownership as
// upstream's ControllerRefManager does: an orphan the selector matches is
// adopted (owner reference and tracking finalizer added), an owned pod the
// selector no longer matches is released. Generated selectors match the
// Job's UID, so in practice this only matters for manualSelector Jobs.
func (c *Controller) claimPods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job %s/%s selector: %w", job.Namespace, job.Name, err)
	}
	all, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var owned []*corev1.Pod
	canAdopt := c.adoptionCheck(ctx, job)
	for _, p := range all {
		ref := metav1.GetControllerOf(p)
		matches := !selector.Empty() && selector.Matches(labels.Set(p.Labels))
		switch {
		case ref != nil && ref.UID != job.UID:
			continue // another controller's
		case ref != nil && matches:
			owned = append(owned, p)
		case ref != nil:
			if job.DeletionTimestamp == nil {
				if err := c.patchPod(ctx, p, releasePatch(job, p)); err != nil && !apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("releasing pod %s/%s: %w", p.Namespace, p.Name, err)
				}
			}
		case matches && p.DeletionTimestamp == nil && job.DeletionTimestamp == nil:
			if err := canAdopt(); err != nil {
				return nil, err
			}
			if err := c.patchPod(ctx, p, adoptPatch(job, p)); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("adopting pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			adopted := p.DeepCopy()
			adopted.OwnerReferences = append(adopted.OwnerReferences, *metav1.NewControllerRef(job, jobKind))
			if !hasTrackingFinalizer(adopted) {
				adopted.Finalizers = append(adopted.Finalizers, batchv1.JobTrackingFinalizer)
			}
			owned = append(owned, adopted)
		}
	}
	return owned, nil
}

// adoptionCheck returns a function that, on first use, confirms with an
// uncached read that the Job still exists and is not being deleted: a
// deleted Job must not adopt pods the garbage collector just orphaned.
func (c *Controller) adoptionCheck(ctx context.Context, job *batchv1.Job) func() error {
	var checked bool
	var result error
	return func() error {
		if checked {
			return result
		}
		checked = true
		fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		switch {
		case err != nil:
			result = fmt.Errorf("checking job %s/%s before adopting: %w", job.Namespace, job.Name, err)
		case fresh.UID != job.UID:
			result = fmt.Errorf("job %s/%s was replaced (uid %s, want %s)", job.Namespace, job.Name, fresh.UID, job.UID)
		case fresh.DeletionTimestamp != nil:
			result = fmt.Errorf("job %s/%s is being deleted, not adopting", job.Namespace, job.Name)
		}
		return result
	}
}

// adoptPatch adds the controller reference and the tracking finalizer; the
// pod's uid makes it fail rather than touch a new pod of the same name.
func adoptPatch(job *batchv1.Job, p *corev1.Pod) []byte {
	ref := metav1.NewControllerRef(job, jobKind)
	patch := map[string]any{"metadata": map[string]any{
		"ownerReferences": []any{ref},
		"finalizers":      []string{batchv1.JobTrackingFinalizer},
		"uid":             p.UID,
	}}
	b, _ := json.Marshal(patch)
	return b
}

func releasePatch(job *batchv1.Job, p *corev1.Pod) []byte {
	patch := map[string]any{"metadata": map[string]any{
		"ownerReferences": []any{map[string]any{"$patch": "delete", "uid": job.UID}},
		"uid":             p.UID,
	}}
	b, _ := json.Marshal(patch)
	return b
}

func (c *Controller) patchPod(ctx context.Context, p *corev1.Pod, patch []byte) error {
	_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}
