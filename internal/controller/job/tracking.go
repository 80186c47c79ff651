package job

import (
	"context"
	"fmt"
	"sort"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

// Finalizer-based tracking. Every pod of a Job carries the
// batch.kubernetes.io/job-tracking finalizer, so it cannot disappear before
// it is counted. Counting a finished pod takes three writes, in this order,
// and a crash between any two loses nothing and counts nothing twice:
//
//  1. its UID goes into status.uncountedTerminatedPods (Job status write);
//  2. its finalizer is removed (pod patch);
//  3. UIDs whose pods no longer carry the finalizer move from the uncounted
//     lists to status.succeeded / status.failed (Job status write).
//
// A pod without the finalizer is never counted again; a UID in the uncounted
// lists is never added twice. Each status write carries the resourceVersion
// the sync read, so a sync working from a stale Job fails with a conflict
// instead of counting again.

// finalizerExpectations remembers, per Job, the pods whose finalizer
// removal was requested but not yet seen in the cache, so a lagging cache
// does not make them look uncounted.
type finalizerExpectations struct {
	mu    sync.Mutex
	byJob map[string]sets.Set[string]
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{byJob: map[string]sets.Set[string]{}}
}

func (e *finalizerExpectations) expect(key string, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.byJob[key]
	if !ok {
		s = sets.New[string]()
		e.byJob[key] = s
	}
	s.Insert(uids...)
}

func (e *finalizerExpectations) observed(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.byJob[key]; ok {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(e.byJob, key)
		}
	}
}

// pending returns a copy of the UIDs still expected for key.
func (e *finalizerExpectations) pending(key string) sets.Set[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byJob[key].Clone()
}

func (e *finalizerExpectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byJob, key)
}

// uncountedSets indexes status.uncountedTerminatedPods as it was read.
type uncountedSets struct{ succeeded, failed sets.Set[string] }

func newUncountedSets(u *batchv1.UncountedTerminatedPods) uncountedSets {
	out := uncountedSets{succeeded: sets.New[string](), failed: sets.New[string]()}
	for _, uid := range u.Succeeded {
		out.succeeded.Insert(string(uid))
	}
	for _, uid := range u.Failed {
		out.failed.Insert(string(uid))
	}
	return out
}

// settleUncounted moves the UIDs whose pods no longer carry the finalizer
// (withFinalizer does not have them) from the uncounted lists to the
// counters, and reports whether anything moved.
//
// Example: succeeded=3, uncounted.succeeded=[a b], only b still has its
// finalizer → succeeded=4, uncounted.succeeded=[b].
func settleUncounted(st *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	u := st.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(string(uid)) {
				out = append(out, uid)
			}
		}
		return out
	}
	changed := false
	if left := keep(u.Succeeded); len(left) != len(u.Succeeded) {
		st.Succeeded += int32(len(u.Succeeded) - len(left))
		u.Succeeded, changed = left, true
	}
	if left := keep(u.Failed); len(left) != len(u.Failed) {
		st.Failed += int32(len(u.Failed) - len(left))
		u.Failed, changed = left, true
	}
	return changed
}

// trackStatus counts finished pods through the three steps above, writes
// the interim and terminal conditions, and writes the status when anything
// differs from what was read.
func (c *Controller) trackStatus(ctx context.Context, s *syncState) error {
	job := s.job
	flush := s.statusChanged || s.active != job.Status.Active ||
		!ptr.Equal(&s.ready, job.Status.Ready) || !ptr.Equal(&s.terminating, job.Status.Terminating)
	job.Status.Active = s.active
	job.Status.Ready = ptr.To(s.ready)
	job.Status.Terminating = ptr.To(s.terminating)

	withFinalizer := sets.New[string]()
	for _, p := range s.pods {
		if hasTrackingFinalizer(p) && !s.expectedRemovals.Has(string(p.UID)) {
			withFinalizer.Insert(string(p.UID))
		}
	}
	if settleUncounted(&job.Status, withFinalizer) {
		flush = true
	}
	release, newIndexes, full, added := c.collectFinished(s)
	flush = flush || added
	if isIndexed(job) {
		s.succeededIndexes = s.succeededIndexes.withIndexes(newIndexes)
		if str := s.succeededIndexes.String(); str != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = str
			flush = true
		}
		job.Status.Succeeded = int32(s.succeededIndexes.total())
		var failedStr *string
		if s.failedIndexes != nil {
			failedStr = ptr.To(s.failedIndexes.String())
		}
		if !ptr.Equal(job.Status.FailedIndexes, failedStr) {
			job.Status.FailedIndexes = failedStr
			flush = true
		}
	}
	if c.recordInterimCondition(s) {
		flush = true
	}
	flush, err := c.flushAndRelease(ctx, s, release, withFinalizer, flush)
	if err != nil {
		return err
	}
	finished := !full && c.enactFinished(s)
	if !flush && !finished {
		return nil
	}
	if _, err := c.updateStatus(ctx, s.job); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	if finished {
		c.recordFinished(s.job, s.finished)
	}
	return nil
}

// collectFinished picks the pods whose finalizer may go now and adds the
// finished ones to the uncounted lists (Indexed Jobs record successes as
// indexes instead). full reports that the uncounted lists reached their
// bound and the rest waits for the next sync.
func (c *Controller) collectFinished(s *syncState) (release []*corev1.Pod, newIndexes []int, full, added bool) {
	job := s.job
	u := job.Status.UncountedTerminatedPods
	pods := s.pods
	if isIndexed(job) {
		// Count completed indexes in order.
		pods = append([]*corev1.Pod(nil), pods...)
		sort.SliceStable(pods, func(i, j int) bool { return completionIndex(pods[i]) < completionIndex(pods[j]) })
	}
	jobFailing := s.finished != nil && s.finished.Type != batchv1.JobSuccessCriteriaMet
	for _, p := range pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || s.expectedRemovals.Has(uid) {
			continue // counted by an earlier sync
		}
		failed := isPodFailed(p, job)
		if !c.canRemoveFinalizer(s, p, failed) {
			continue
		}
		release = append(release, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !s.uncounted.failed.Has(uid):
			if isIndexed(job) {
				if ix := completionIndex(p); validIndex(p, *job.Spec.Completions) && !s.prevSucceededIndexes.has(ix) {
					newIndexes = append(newIndexes, ix)
					added = true
				}
			} else if !s.uncounted.succeeded.Has(uid) {
				u.Succeeded = append(u.Succeeded, p.UID)
				added = true
			}
		case failed || jobFailing:
			// Once the Job fails, whatever has not finished counts as failed.
			if s.uncounted.failed.Has(uid) || (isIndexed(job) && !validIndex(p, *job.Spec.Completions)) {
				break
			}
			if matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countsAsFailure {
				u.Failed = append(u.Failed, p.UID)
				added = true
			}
		}
		if len(newIndexes)+len(u.Succeeded)+len(u.Failed) >= maxUncountedPods {
			return release, newIndexes, true, added
		}
	}
	return release, newIndexes, false, added
}

// canRemoveFinalizer: a pod is released once it succeeded, once it failed
// (unless it is the failed pod a per-index back-off still needs, see
// delayedDeletion), and unconditionally once the Job is finishing or
// being deleted.
func (c *Controller) canRemoveFinalizer(s *syncState, p *corev1.Pod, failed bool) bool {
	if s.job.DeletionTimestamp != nil || s.finished != nil || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	if held, ok := s.delayedDeletion[completionIndex(p)]; ok && held.UID == p.UID {
		return false
	}
	return true
}

// recordInterimCondition writes FailureTarget or SuccessCriteriaMet before
// any finalizer is removed, so the verdict survives a crash, and turns
// s.finished into the terminal condition to set once every pod is
// accounted for.
func (c *Controller) recordInterimCondition(s *syncState) bool {
	f := s.finished
	if f == nil {
		return false
	}
	now := c.clock.Now()
	switch f.Type {
	case batchv1.JobFailureTarget:
		s.job.Status.Conditions = append(s.job.Status.Conditions, *f)
		s.finished = newCondition(batchv1.JobFailed, corev1.ConditionTrue, f.Reason, f.Message, now)
		return true
	case batchv1.JobSuccessCriteriaMet:
		added := false
		if hasTrueCondition(s.job, batchv1.JobSuccessCriteriaMet) == nil {
			s.job.Status.Conditions = append(s.job.Status.Conditions, *f)
			added = true
		}
		s.finished = newCondition(batchv1.JobComplete, corev1.ConditionTrue, f.Reason, f.Message, now)
		return added
	}
	return false
}

// flushAndRelease does steps 1-3: write the uncounted UIDs (and interim
// condition), remove the finalizers, and move what was released into the
// counters. It returns whether a status change is still unwritten.
func (c *Controller) flushAndRelease(ctx context.Context, s *syncState, release []*corev1.Pod, withFinalizer sets.Set[string], flush bool) (bool, error) {
	if flush {
		updated, err := c.updateStatus(ctx, s.job)
		if err != nil {
			return flush, fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		s.job = updated
		c.backoff.set(s.key, s.backoffRecord)
		flush = false
	}
	var rmErr error
	if len(release) > 0 {
		var done []bool
		done, rmErr = c.removeFinalizers(ctx, s.key, release)
		for i, p := range release {
			if done[i] {
				withFinalizer.Delete(string(p.UID))
			}
		}
	}
	if settleUncounted(&s.job.Status, withFinalizer) {
		flush = true
	}
	if rmErr != nil && flush {
		// Keep what did succeed before reporting the failure.
		if updated, err := c.updateStatus(ctx, s.job); err == nil {
			s.job = updated
			flush = false
		}
	}
	return flush, rmErr
}

// removeFinalizers patches the tracking finalizer off pods in parallel;
// done[i] reports pods[i] released (or gone).
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.finalizers.expect(key, uids)
	done := make([]bool, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			err := c.removeFinalizer(ctx, p)
			if err != nil {
				// No update will come for this pod; stop waiting for one.
				c.finalizers.observed(key, uids[i])
				errs[i] = err
				return
			}
			done[i] = true
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// finalizerPatch removes the tracking finalizer and nothing else, whatever
// other finalizers were added meanwhile.
var finalizerPatch = []byte(fmt.Sprintf(`{"metadata":{"$deleteFromPrimitiveList/finalizers":[%q]}}`, batchv1.JobTrackingFinalizer))

func (c *Controller) removeFinalizer(ctx context.Context, p *corev1.Pod) error {
	if !hasTrackingFinalizer(p) {
		return nil
	}
	_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, finalizerPatch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing tracking finalizer from pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// enactFinished sets the terminal condition once nothing is left to count
// and no pod is still terminating, so that a client seeing Complete or
// Failed knows every pod is done.
func (c *Controller) enactFinished(s *syncState) bool {
	if s.finished == nil {
		return false
	}
	if u := s.job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if s.terminating > 0 {
		return false
	}
	f := s.finished
	s.job.Status.Conditions, _ = ensureCondition(s.job.Status.Conditions, f.Type, f.Status, f.Reason, f.Message, c.clock.Now())
	if f.Type == batchv1.JobComplete {
		s.job.Status.CompletionTime = ptr.To(f.LastTransitionTime)
	}
	return true
}

func (c *Controller) recordFinished(job *batchv1.Job, f *batchv1.JobCondition) {
	if f.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, corev1.EventTypeWarning, reasonTooManySucceeded, "Too many succeeded pods running after completion count reached")
		}
		c.recorder.Event(job, corev1.EventTypeNormal, reasonCompleted, "Job completed")
		return
	}
	c.recorder.Event(job, corev1.EventTypeWarning, f.Reason, f.Message)
}

func (c *Controller) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	updated, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
	if err != nil {
		return job, err
	}
	if updated.Status.UncountedTerminatedPods == nil {
		updated.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	return updated, nil
}
