package namespace

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// ResourcesRemainingError reports content that is going away but not gone
// yet, and in how many seconds it is expected to be.
type ResourcesRemainingError struct {
	Estimate int64
}

func (e *ResourcesRemainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.Estimate)
}

// sync drives one terminating namespace one step towards being gone.
func (c *Controller) sync(ctx context.Context, name string) error {
	if _, err := c.lister.Get(name); apierrors.IsNotFound(err) {
		return nil
	}
	// Other controllers edit terminating namespaces too (their own spec
	// finalizers): work from the live object, not the cache.
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	if ns, err = c.ensureTerminating(ctx, ns); err != nil {
		return ignoreNotFound(err)
	}
	if len(ns.Spec.Finalizers) == 0 {
		return c.deleteFinalized(ctx, ns)
	}
	estimate, err := c.deleteAllContent(ctx, ns)
	if err != nil {
		return err
	}
	if estimate > 0 {
		return &ResourcesRemainingError{Estimate: estimate}
	}
	if ns, err = c.finalize(ctx, ns); err != nil {
		return ignoreNotFound(err)
	}
	return c.deleteFinalized(ctx, ns)
}

// ensureTerminating sets status.phase Terminating if the API server has
// not already.
func (c *Controller) ensureTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	return c.retryOnConflict(ctx, ns, func(ns *corev1.Namespace) (*corev1.Namespace, error) {
		if ns.Status.Phase == corev1.NamespaceTerminating {
			return ns, nil
		}
		ns = ns.DeepCopy()
		ns.Status.Phase = corev1.NamespaceTerminating
		return c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{})
	})
}

// finalize removes our token from spec.finalizers, leaving the others.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	return c.retryOnConflict(ctx, ns, func(ns *corev1.Namespace) (*corev1.Namespace, error) {
		if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
			return ns, nil
		}
		ns = ns.DeepCopy()
		ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
		return c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	})
}

// deleteFinalized deletes a namespace whose spec finalizers are all done.
// Skiff's API server removes such a namespace on a DELETE (upstream's
// does it as part of the finalize call); with metadata finalizers left
// the DELETE changes nothing and their owners' last update removes it.
func (c *Controller) deleteFinalized(ctx context.Context, ns *corev1.Namespace) error {
	if len(ns.Spec.Finalizers) > 0 {
		return nil
	}
	uid := ns.UID
	err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case err == nil:
		klog.FromContext(ctx).V(2).Info("Namespace finalized and deleted", "namespace", ns.Name)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone already, or replaced by a new namespace of the same name.
		return nil
	}
	return fmt.Errorf("deleting finalized namespace %s: %w", ns.Name, err)
}

// A namespace that vanished midway needs nothing more.
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// maxConflictRetries bounds retryOnConflict; the queue's back-off takes
// over after that.
const maxConflictRetries = 10

// retryOnConflict runs fn on ns and, after a conflict, on the latest
// version of the same namespace (same UID) until fn succeeds or fails
// otherwise.
func (c *Controller) retryOnConflict(ctx context.Context, ns *corev1.Namespace, fn func(*corev1.Namespace) (*corev1.Namespace, error)) (*corev1.Namespace, error) {
	for attempt := 0; ; attempt++ {
		out, err := fn(ns)
		if !apierrors.IsConflict(err) || attempt == maxConflictRetries {
			if err != nil {
				return nil, fmt.Errorf("updating namespace %s: %w", ns.Name, err)
			}
			return out, nil
		}
		latest, err := c.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("getting namespace %s: %w", ns.Name, err)
		}
		if latest.UID != ns.UID {
			return nil, fmt.Errorf("namespace %s was replaced while being deleted", ns.Name)
		}
		ns = latest
	}
}
