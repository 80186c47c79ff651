package job

import (
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// backoffLimitPerIndex: an Indexed Job may bound the failures of each index
// instead of the Job's. Each pod records how many pods of its index failed
// before it (annotation job-index-failure-count, and the ignored ones in
// job-index-ignored-failure-count); a failed pod keeps its finalizer until
// its replacement is created with the count plus one, so the count cannot
// be lost. An index whose count reaches the limit (or whose pod matched a
// FailIndex rule) is failed and not retried.

func hasPerIndexBackoff(job *batchv1.Job) bool {
	return isIndexed(job) && job.Spec.BackoffLimitPerIndex != nil
}

// annotationCount reads a count annotation; missing, malformed or out of
// range values read as 0, as a user may have edited them.
func annotationCount(pod *corev1.Pod, key string) int32 {
	v, ok := pod.Annotations[key]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0
	}
	return int32(n)
}

func indexFailures(p *corev1.Pod) int32 {
	return annotationCount(p, batchv1.JobIndexFailureCountAnnotation)
}

func indexFailuresWithIgnored(p *corev1.Pod) int32 {
	return indexFailures(p) + annotationCount(p, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

// isIndexFailed: the pod's failure exhausts its index.
func isIndexFailed(job *batchv1.Job, p *corev1.Pod) bool {
	if !isPodFailed(p, job) {
		return false
	}
	v := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p)
	if v.action == batchv1.PodFailurePolicyActionFailIndex {
		return true
	}
	return v.countsAsFailure && indexFailures(p) >= *job.Spec.BackoffLimitPerIndex
}

// observeIndexes computes the succeeded (and, per-index, failed) indexes:
// those already in the status plus those of pods not yet counted.
func (c *Controller) observeIndexes(s *syncState) {
	job := s.job
	completions := int(*job.Spec.Completions)
	s.prevSucceededIndexes = parseIntervals(job.Status.CompletedIndexes, completions)
	var newSucceeded, newFailed []int
	for _, p := range s.pods {
		if !hasTrackingFinalizer(p) || !validIndex(p, *job.Spec.Completions) {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded {
			newSucceeded = append(newSucceeded, completionIndex(p))
		} else if hasPerIndexBackoff(job) && isIndexFailed(job, p) {
			newFailed = append(newFailed, completionIndex(p))
		}
	}
	s.succeededIndexes = s.prevSucceededIndexes.withIndexes(newSucceeded)
	s.succeeded = int32(s.succeededIndexes.total())
	if !hasPerIndexBackoff(job) {
		return
	}
	var prevFailed intervals
	if job.Status.FailedIndexes != nil {
		prevFailed = parseIntervals(*job.Status.FailedIndexes, completions)
	}
	failed := prevFailed.withIndexes(newFailed)
	s.failedIndexes = &failed
	s.delayedDeletion = delayedDeletion(s)
}

// delayedDeletion picks, for each index that is neither done nor running,
// the latest failed pod not yet counted: its finalizer stays until the
// replacement carrying its failure count exists.
func delayedDeletion(s *syncState) map[int]*corev1.Pod {
	active := sets.New(indexesOf(s.activePods)...)
	out := map[int]*corev1.Pod{}
	for _, p := range s.uncountedPods(nil, func(p *corev1.Pod) bool { return isPodFailed(p, s.job) }) {
		ix := completionIndex(p)
		if s.succeededIndexes.has(ix) || s.failedIndexes.has(ix) || active.Has(ix) {
			continue
		}
		prev, ok := out[ix]
		if !ok || (indexFailuresWithIgnored(prev) <= indexFailuresWithIgnored(p) && !finishedTime(p).Before(finishedTime(prev))) {
			out[ix] = p
		}
	}
	return out
}

// busyIndexes are the indexes no new pod may take: succeeded, running,
// failed for good, and (when only failed pods are replaced) terminating.
func (c *Controller) busyIndexes(s *syncState) intervals {
	busy := s.succeededIndexes.withIndexes(indexesOf(s.activePods))
	if onlyReplaceFailed(s.job) {
		busy = busy.withIndexes(indexesOf(filterPods(s.pods, isTerminating)))
	}
	if s.failedIndexes != nil {
		busy = busy.merge(*s.failedIndexes)
	}
	return busy
}

// perIndexWait keeps in *indexes those whose back-off is over and returns
// the shortest wait among the others.
func (c *Controller) perIndexWait(s *syncState, indexes *[]int) time.Duration {
	now := c.clock.Now()
	var ready []int
	var wait time.Duration
	for _, ix := range *indexes {
		prev := s.delayedDeletion[ix]
		if prev == nil {
			ready = append(ready, ix)
			continue
		}
		r := backoffRecord{failuresAfterLastSuccess: indexFailuresWithIgnored(prev) + 1, lastFailure: finishedTime(prev)}
		left := r.remaining(now, c.backoffBase, c.backoffMax)
		if left == 0 {
			ready = append(ready, ix)
		} else if wait == 0 || left < wait {
			wait = left
		}
	}
	*indexes = ready
	return wait
}

// setIndexFailureCounts gives the replacement of prev the failure counts
// of its index: prev's plus prev's own failure, in the ignored count if
// the pod failure policy ignored it.
func setIndexFailureCounts(t *corev1.PodTemplateSpec, job *batchv1.Job, prev *corev1.Pod) {
	var failures, ignored int32
	if prev != nil {
		failures = indexFailures(prev)
		ignored = annotationCount(prev, batchv1.JobIndexIgnoredFailureCountAnnotation)
		if matchPodFailurePolicy(job.Spec.PodFailurePolicy, prev).countsAsFailure {
			failures++
		} else {
			ignored++
		}
	}
	t.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
	if ignored > 0 {
		t.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
	}
}
