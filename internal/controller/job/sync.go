package job

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Event reasons this controller reports beyond podcontrol's
// SuccessfulCreate/SuccessfulDelete; failures report the condition reason
// (BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy, ...).
const (
	reasonCompleted             = "Completed"
	reasonTooManySucceeded      = "TooManySucceededPods"
	reasonSuspended             = "Suspended"
	reasonResumed               = "Resumed"
	reasonUnknownCompletionMode = "UnknownCompletionMode"
)

// defaultBackoffLimit is batch/v1's default, for a Job stored without
// defaulting.
const defaultBackoffLimit = 6

// syncState is one sync's view of a Job: read from the caches in observe,
// judged, acted upon, and written back by trackStatus.
type syncState struct {
	key  string
	job  *batchv1.Job // a copy, becomes the status to write
	pods []*corev1.Pod

	activePods  []*corev1.Pod
	active      int32 // updated as pods are created and deleted
	ready       int32
	terminating int32
	// succeeded and failed include pods finished but not yet counted.
	succeeded, failed int32

	prevSucceededIndexes, succeededIndexes intervals
	failedIndexes                          *intervals
	// delayedDeletion holds, per index, the failed pod whose finalizer stays
	// until its replacement is created (backoffLimitPerIndex).
	delayedDeletion map[int]*corev1.Pod

	backoffRecord    backoffRecord
	uncounted        uncountedSets
	expectedRemovals sets.Set[string]
	satisfied        bool

	// finished is the verdict: FailureTarget/SuccessCriteriaMet while
	// finishing, the terminal condition once recorded.
	finished      *batchv1.JobCondition
	statusChanged bool
	// events are reported once the status they describe is written, so a
	// sync that loses a write conflict does not report them twice.
	events []pendingEvent
}

type pendingEvent struct{ eventType, reason, message string }

// sync reconciles one Job: count its pods, decide whether it is done, make
// or remove pods, and write the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("job key %q: %w", key, err)
	}
	shared, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		c.finalizers.forget(key)
		c.backoff.remove(key)
		return nil
	}
	if err != nil {
		return err
	}
	if finishedCondition(shared) != nil {
		c.backoff.remove(key)
		return nil
	}
	if m := shared.Spec.ManagedBy; m != nil && *m != controllerName {
		return nil // another controller runs this Job
	}
	if mode := shared.Spec.CompletionMode; mode != nil && *mode != batchv1.NonIndexedCompletion && *mode != batchv1.IndexedCompletion {
		c.recorder.Event(shared, corev1.EventTypeWarning, reasonUnknownCompletionMode, "Skipped Job sync because completion mode is unknown")
		return nil
	}
	s, err := c.observe(ctx, key, shared.DeepCopy())
	if err != nil {
		return err
	}
	c.judge(ctx, s)
	var podErr error
	if s.finished != nil {
		podErr = c.stopActive(ctx, s)
	} else {
		podErr = c.progress(ctx, s)
	}
	if err := c.trackStatus(ctx, s); err != nil {
		return fmt.Errorf("tracking status of job %s: %w", key, err)
	}
	for _, ev := range s.events {
		c.recorder.Event(s.job, ev.eventType, ev.reason, ev.message)
	}
	return podErr
}

// observe reads the Job's pods and what they add up to.
func (c *Controller) observe(ctx context.Context, key string, job *batchv1.Job) (*syncState, error) {
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Read the expectations before the pods: a pod that lands in the cache
	// in between is then seen, never double-created.
	satisfied := c.expectations.Satisfied(key)
	pods, err := c.claimPods(ctx, job)
	if err != nil {
		return nil, err
	}
	s := &syncState{
		key:              key,
		job:              job,
		pods:             pods,
		activePods:       filterPods(pods, isActive),
		terminating:      countPods(pods, isTerminating),
		uncounted:        newUncountedSets(job.Status.UncountedTerminatedPods),
		expectedRemovals: c.finalizers.pending(key),
		satisfied:        satisfied,
	}
	s.active = int32(len(s.activePods))
	s.ready = countPods(s.activePods, isReady)
	newSucceeded := s.uncountedPods(s.uncounted.succeeded, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	newFailed := s.uncountedPods(s.uncounted.failed, func(p *corev1.Pod) bool { return isPodFailed(p, job) })
	s.succeeded = job.Status.Succeeded + int32(len(newSucceeded)+s.uncounted.succeeded.Len())
	s.failed = job.Status.Failed + countedFailures(job, newFailed) + int32(s.uncounted.failed.Len())
	s.backoffRecord = nextBackoffRecord(c.backoff.get(key), newSucceeded, newFailed)

	if job.Status.StartTime == nil && !isSuspended(job) {
		job.Status.StartTime = &metav1.Time{Time: c.clock.Now()}
		s.statusChanged = true
	}
	if isIndexed(job) {
		c.observeIndexes(s)
	}
	return s, nil
}

// uncountedPods returns the pods that match and have not been counted: they
// still carry the finalizer, are in neither uncounted list nor waiting for
// their finalizer removal to show, and (Indexed) have a valid index.
func (s *syncState) uncountedPods(inList sets.Set[string], match func(*corev1.Pod) bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range s.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || inList.Has(uid) || s.expectedRemovals.Has(uid) {
			continue
		}
		if isIndexed(s.job) && !validIndex(p, *s.job.Spec.Completions) {
			continue
		}
		if match(p) {
			out = append(out, p)
		}
	}
	return out
}

// judge decides whether the Job has failed or met its success criteria,
// in upstream's order of precedence, and schedules the wake-up for an
// active deadline still running.
func (c *Controller) judge(ctx context.Context, s *syncState) {
	job, now := s.job, c.clock.Now()
	if cond := hasTrueCondition(job, batchv1.JobSuccessCriteriaMet); cond != nil {
		s.finished = cond
		return
	}
	if ft := hasTrueCondition(job, batchv1.JobFailureTarget); ft != nil {
		s.finished = newCondition(batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message, now)
		return
	}
	failWith := func(reason, message string) {
		s.finished = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, reason, message, now)
	}
	left, deadline := deadlineRemaining(job, now)
	switch {
	case failJobMessage(job, s.pods) != "":
		failWith(batchv1.JobReasonPodFailurePolicy, failJobMessage(job, s.pods))
	case s.failed > ptr.Deref(job.Spec.BackoffLimit, defaultBackoffLimit) || pastBackoffLimitOnFailure(job, s.pods):
		failWith(batchv1.JobReasonBackoffLimitExceeded, messageBackoffLimit)
	case deadline && left <= 0:
		failWith(batchv1.JobReasonDeadlineExceeded, messageDeadline)
	case deadline:
		klog.FromContext(ctx).V(4).Info("Job has an active deadline, will sync again", "job", klog.KObj(job), "in", left)
		c.queue.AddAfter(s.key, left)
	}
	if !isIndexed(job) || s.finished != nil {
		return
	}
	if s.failedIndexes != nil {
		failedIx := s.failedIndexes.total()
		switch {
		case job.Spec.MaxFailedIndexes != nil && failedIx > int(*job.Spec.MaxFailedIndexes):
			failWith(batchv1.JobReasonMaxFailedIndexesExceeded, messageMaxFailedIndexes)
			return
		case failedIx > 0 && failedIx+s.succeededIndexes.total() >= int(*job.Spec.Completions):
			failWith(batchv1.JobReasonFailedIndexes, messageFailedIndexes)
			return
		}
	}
	if msg, met := matchSuccessPolicy(job.Spec.SuccessPolicy, *job.Spec.Completions, s.succeededIndexes); met {
		s.finished = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg, now)
	}
}

// progress runs an unfinished Job: create or delete pods, then notice
// completion or a change of suspension.
func (c *Controller) progress(ctx context.Context, s *syncState) error {
	var err error
	managed := false
	if s.satisfied && s.job.DeletionTimestamp == nil {
		err = c.manage(ctx, s)
		managed = true
	}
	if isComplete(s.job, s.succeeded, s.active) {
		s.finished = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue,
			batchv1.JobReasonCompletionsReached, messageCompletionsReached, c.clock.Now())
		return err
	}
	if managed {
		c.updateSuspended(s)
	}
	return err
}

// updateSuspended keeps the Suspended condition in step with spec.suspend.
// Suspending clears startTime (the deadline does not run while suspended,
// and the template's scheduling directives may then be changed); resuming
// starts it again.
func (c *Controller) updateSuspended(s *syncState) {
	job, now := s.job, c.clock.Now()
	if isSuspended(job) {
		var changed bool
		job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, reasonJobSuspended, "Job suspended", now)
		if changed {
			s.statusChanged = true
			job.Status.StartTime = nil
			s.events = append(s.events, pendingEvent{corev1.EventTypeNormal, reasonSuspended, "Job suspended"})
		}
		return
	}
	var changed bool
	job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, reasonJobResumed, "Job resumed", now)
	if changed {
		s.statusChanged = true
		job.Status.StartTime = &metav1.Time{Time: now}
		s.events = append(s.events, pendingEvent{corev1.EventTypeNormal, reasonResumed, "Job resumed"})
	}
}

// stopActive deletes the running pods of a Job that is finishing. Their
// finalizers stay until trackStatus counts them. The verdict is held back
// while deletions failed or earlier ones are not yet observed.
func (c *Controller) stopActive(ctx context.Context, s *syncState) error {
	deleted, deletedReady, err := c.deletePods(ctx, s, s.activePods, false)
	if int(deleted) != len(s.activePods) || !s.satisfied {
		s.finished = nil
	}
	s.active -= deleted
	s.terminating += deleted
	s.ready -= deletedReady
	return err
}
