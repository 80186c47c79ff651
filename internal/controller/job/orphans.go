package job

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// syncOrphanPod removes the tracking finalizer from a pod no running Job
// will count: its Job is gone or finished, or its owner reference was
// removed (for example by the garbage collector orphaning it). Without
// this such a pod could never be deleted.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("pod key %q: %w", key, err)
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ref.Kind != jobKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			return nil // not a Job's pod; its finalizer is not ours to touch
		}
		if job := c.resolveControllerRef(ns, ref); job != nil {
			if m := job.Spec.ManagedBy; m != nil && *m != controllerName {
				return nil
			}
			if finishedCondition(job) == nil {
				return nil // its Job is running and will count it
			}
		}
	}
	return c.removeFinalizer(ctx, pod)
}
