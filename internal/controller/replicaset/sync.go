package replicaset

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// sync reconciles one owner: claim its pods, create or delete the
// difference (unless earlier creates/deletes are still unseen), and write
// the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key we made; retrying cannot help
	}
	o, err := c.kind.get(namespace, name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if o.selectorErr != nil {
		// Permanent until the user edits the object, which requeues it.
		klog.FromContext(ctx).Info("invalid selector", "kind", c.kind.gvk().Kind, "key", key, "err", o.selectorErr)
		return nil
	}
	// Read before listing: expectations met now are met by what we list.
	canManage := c.expectations.Satisfied(key)

	all, err := c.pods.candidates(o.meta.GetUID(), namespace)
	if err != nil {
		return err
	}
	active := make([]*corev1.Pod, 0, len(all))
	for _, p := range all {
		if isPodActive(p) {
			active = append(active, p)
		}
	}
	pods, err := c.claimPods(ctx, o, active)
	if err != nil {
		return err
	}
	var manageErr error
	if canManage && o.meta.GetDeletionTimestamp() == nil {
		manageErr = c.manageReplicas(ctx, o, pods, key)
	}
	now := c.clock.Now()
	st := computeStatus(o, pods, c.terminating(o, all), manageErr, now)
	if !equality.Semantic.DeepEqual(o.status, st) {
		if err := c.kind.writeStatus(ctx, o, st); err != nil {
			return err
		}
	}
	if manageErr == nil {
		if d, ok := nextAvailableIn(pods, o.minReadySeconds, now); ok {
			c.queue.AddAfter(key, d)
		}
	}
	return manageErr
}

// terminating counts o's pods that are shutting down, for kinds that
// report it.
func (c *Controller) terminating(o *owner, pods []*corev1.Pod) *int32 {
	if !c.kind.reportsTerminating() {
		return nil
	}
	var n int32
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref != nil && ref.UID == o.meta.GetUID() && isPodTerminating(p) && o.selector.Matches(labelsOf(p)) {
			n++
		}
	}
	return &n
}

// manageReplicas creates or deletes at most burstReplicas pods to move
// len(pods) towards o.replicas.
func (c *Controller) manageReplicas(ctx context.Context, o *owner, pods []*corev1.Pod, key string) error {
	diff := len(pods) - int(o.replicas)
	switch {
	case diff < 0:
		return c.createPods(ctx, o, min(-diff, c.burstReplicas), key)
	case diff > 0:
		return c.deletePods(ctx, o, pods, min(diff, c.burstReplicas), key)
	}
	return nil
}

func (c *Controller) createPods(ctx context.Context, o *owner, n int, key string) error {
	if o.template == nil {
		return nil // validation requires a template; nothing to create from
	}
	// Expect before creating: the informer may report a pod before its
	// create call has even returned here.
	c.expectations.ExpectCreations(key, n)
	ref := metav1.NewControllerRef(o.meta, c.kind.gvk())
	created, err := podcontrol.SlowStartBatch(n, podcontrol.SlowStartInitialBatchSize, func() error {
		pod := podcontrol.PodFromTemplate(o.template, o.meta, ref)
		_, err := c.podControl.Create(ctx, pod, o.obj)
		if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // every later create would fail the same way
		}
		return err
	})
	// Creates never attempted (or failed) will never be observed.
	for i := created; i < n; i++ {
		c.expectations.CreationObserved(key)
	}
	if err != nil {
		return fmt.Errorf("creating pods for %s %s: %w", c.kind.gvk().Kind, key, err)
	}
	return nil
}

func (c *Controller) deletePods(ctx context.Context, o *owner, pods []*corev1.Pod, n int, key string) error {
	related, err := c.relatedPods(o)
	if err != nil {
		return err
	}
	victims := podsToDelete(pods, related, n, c.clock.Now())
	keys := make([]string, len(victims))
	for i, p := range victims {
		keys[i] = p.Namespace + "/" + p.Name
	}
	c.expectations.ExpectDeletions(key, keys)

	errs := make(chan error, len(victims))
	var wg sync.WaitGroup
	for i, p := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.deleteOwnedPod(ctx, p, o); err != nil {
				// This delete will never be observed (a pod already gone
				// may have been observed before we expected it).
				c.expectations.DeletionObserved(key, keys[i])
				if !apierrors.IsNotFound(err) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // the first error, or nil
}

// relatedPods returns the pods of every owner sharing o's controller (a
// Deployment's ReplicaSets), o included, to rank deletions by how crowded
// each node is with this workload.
func (c *Controller) relatedPods(o *owner) ([]*corev1.Pod, error) {
	ref := metav1.GetControllerOfNoCopy(o.meta)
	if ref == nil {
		return c.pods.owned(o.meta.GetUID())
	}
	siblings, err := c.kind.list(o.meta.GetNamespace())
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, s := range siblings {
		if sref := metav1.GetControllerOfNoCopy(s.meta); sref == nil || sref.UID != ref.UID {
			continue
		}
		pods, err := c.pods.owned(s.meta.GetUID())
		if err != nil {
			return nil, err
		}
		out = append(out, pods...)
	}
	return out, nil
}

// deleteOwnedPod deletes p with podcontrol's events. Unlike podcontrol.Delete it
// reports NotFound, which the caller needs to settle its expectations.
func (c *Controller) deleteOwnedPod(ctx context.Context, p *corev1.Pod, o *owner) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
	switch {
	case err == nil:
		c.podControl.Recorder.Eventf(o.obj, corev1.EventTypeNormal, podcontrol.ReasonSuccessfulDelete, "Deleted pod: %v", p.Name)
		return nil
	case apierrors.IsNotFound(err):
		return err
	default:
		c.podControl.Recorder.Eventf(o.obj, corev1.EventTypeWarning, podcontrol.ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err)
	}
}
