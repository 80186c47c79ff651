package job

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-sh/skiff/internal/controller/podcontrol"
)

// manage brings the number of running pods to what the Job wants. It
// either deletes or creates in one sync, never both; deletions win.
func (c *Controller) manage(ctx context.Context, s *syncState) error {
	job := s.job
	logger := klog.FromContext(ctx)
	if isSuspended(job) {
		_, err := c.removeSurplus(ctx, s, len(s.activePods))
		return err
	}
	want := wantActive(job, s.succeeded, s.active)
	if n, err := c.removeSurplus(ctx, s, int(max(0, s.active-want))); n > 0 || err != nil {
		return err
	}
	// Pods being deleted still hold their place when the Job only
	// replaces failed pods.
	var terminating int32
	if onlyReplaceFailed(job) {
		terminating = s.terminating
	}
	diff := want - terminating - s.active
	if diff <= 0 {
		return nil
	}
	if !hasPerIndexBackoff(job) {
		if wait := s.backoffRecord.remaining(c.clock.Now(), c.backoffBase, c.backoffMax); wait > 0 {
			logger.V(4).Info("Delaying pod creation for back-off", "job", klog.KObj(job), "wait", wait)
			c.queue.AddAfter(s.key, max(wait, c.batchPeriod))
			return nil
		}
	}
	diff = min(diff, maxPodChangesPerSync)
	var indexes []int
	if isIndexed(job) {
		indexes = firstPending(int(diff), int(*job.Spec.Completions), c.busyIndexes(s))
		if hasPerIndexBackoff(job) {
			// Indexes still backing off get a wake-up of their own.
			if wait := c.perIndexWait(s, &indexes); wait > 0 {
				c.queue.AddAfter(s.key, max(wait, c.batchPeriod))
			}
			if len(indexes) == 0 {
				return nil
			}
		}
		diff = int32(len(indexes))
	}
	logger.V(4).Info("Too few pods running", "job", klog.KObj(job), "want", want, "creating", diff)
	return c.createPods(ctx, s, int(diff), indexes)
}

// removeSurplus deletes at least n active pods (Indexed Jobs also lose
// duplicated and out-of-range indexes), releasing their finalizers first:
// a pod the controller removes is not a failure. It returns how many it
// chose.
func (c *Controller) removeSurplus(ctx context.Context, s *syncState, n int) (int, error) {
	var rm []*corev1.Pod
	rest := s.activePods
	if isIndexed(s.job) {
		rm, rest = redundantIndexedPods(s.activePods, *s.job.Spec.Completions)
	}
	if len(rm) < n {
		rest = append([]*corev1.Pod(nil), rest...)
		sortForDeletion(rest)
		rm = append(rm, rest[:n-len(rm)]...)
	}
	if len(rm) > maxPodChangesPerSync {
		rm = rm[:maxPodChangesPerSync]
	}
	if len(rm) == 0 {
		return 0, nil
	}
	deleted, deletedReady, err := c.deletePods(ctx, s, rm, true)
	s.active -= deleted
	s.terminating += deleted
	s.ready -= deletedReady
	return len(rm), err
}

// deletePods deletes pods in parallel, returning how many (and how many
// ready ones) are gone or going. With release, the tracking finalizer is
// removed first and the deletions are expected, so the next sync waits to
// see them.
func (c *Controller) deletePods(ctx context.Context, s *syncState, pods []*corev1.Pod, release bool) (int32, int32, error) {
	if release {
		keys := make([]string, len(pods))
		for i, p := range pods {
			keys[i] = podKey(p)
		}
		c.expectations.ExpectDeletions(s.key, keys)
	}
	var deleted, deletedReady atomic.Int32
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			err := error(nil)
			if release {
				err = c.removeFinalizer(ctx, p)
			}
			if err == nil {
				err = c.podControl.Delete(ctx, p.Namespace, p.Name, s.job)
			}
			if err != nil {
				if release {
					c.expectations.DeletionObserved(s.key, podKey(p))
				}
				errs[i] = err
				return
			}
			deleted.Add(1)
			if isReady(p) {
				deletedReady.Add(1)
			}
		})
	}
	wg.Wait()
	return deleted.Load(), deletedReady.Load(), errors.Join(errs...)
}

// createPods creates n pods (for the given indexes, if Indexed) in
// slow-start batches.
func (c *Controller) createPods(ctx context.Context, s *syncState, n int, indexes []int) error {
	job := s.job
	c.expectations.ExpectCreations(s.key, n)
	template := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		addCompletionIndexEnv(template)
	}
	if !hasTrackingFinalizerIn(template.Finalizers) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}
	ref := metav1.NewControllerRef(job, jobKind)
	var attempts, created atomic.Int32
	_, err := podcontrol.SlowStartBatch(n, podcontrol.SlowStartInitialBatchSize, func() error {
		ix := noIndex
		if i := attempts.Add(1) - 1; indexes != nil {
			ix = indexes[i]
		}
		_, err := c.podControl.Create(ctx, c.podFor(s, template, ix, ref), job)
		if err != nil {
			// The informer will never report this pod.
			c.expectations.CreationObserved(s.key)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // every later create would fail the same way
			}
			return err
		}
		created.Add(1)
		return nil
	})
	// Pods a failed batch kept from being tried will not show up either.
	for range n - int(attempts.Load()) {
		c.expectations.CreationObserved(s.key)
	}
	s.active += created.Load()
	if err != nil {
		return fmt.Errorf("creating pods: %w", err)
	}
	return nil
}

// podFor builds the pod for a completion index (noIndex for NonIndexed).
// An Indexed pod carries its index as annotation and label (which the
// JOB_COMPLETION_INDEX variable reads), the hostname <job>-<index> (for
// stable DNS names under a headless service named by spec.subdomain), and
// a name prefix that shows the index.
func (c *Controller) podFor(s *syncState, template *corev1.PodTemplateSpec, ix int, ref *metav1.OwnerReference) *corev1.Pod {
	job := s.job
	if ix == noIndex {
		return podcontrol.PodFromTemplate(template, job, ref)
	}
	t := template.DeepCopy()
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	t.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	t.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
	if hasPerIndexBackoff(job) {
		setIndexFailureCounts(t, job, s.delayedDeletion[ix])
	}
	pod := podcontrol.PodFromTemplate(t, job, ref)
	pod.GenerateName = podGenerateName(job.Name, ix)
	return pod
}

func hasTrackingFinalizerIn(finalizers []string) bool {
	for _, f := range finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// addCompletionIndexEnv gives every container JOB_COMPLETION_INDEX, read
// from the pod's completion index label, unless it sets the variable
// itself.
func addCompletionIndexEnv(t *corev1.PodTemplateSpec) {
	add := func(cs []corev1.Container) {
		for i := range cs {
			found := false
			for _, e := range cs[i].Env {
				found = found || e.Name == completionIndexEnv
			}
			if found {
				continue
			}
			cs[i].Env = append(cs[i].Env, corev1.EnvVar{
				Name: completionIndexEnv,
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
					FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation),
				}},
			})
		}
	}
	add(t.Spec.InitContainers)
	add(t.Spec.Containers)
}
