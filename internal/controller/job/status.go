package job

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons and messages this controller writes, as upstream's.
const (
	messageCompletionsReached = "Reached expected number of succeeded pods"
	messageBackoffLimit       = "Job has reached the specified backoff limit"
	messageDeadline           = "Job was active longer than specified deadline"
	messageMaxFailedIndexes   = "Job has exceeded the specified maximal number of failed indexes"
	messageFailedIndexes      = "Job has failed indexes"
	reasonJobSuspended        = "JobSuspended"
	reasonJobResumed          = "JobResumed"
)

// wantActive is how many pods should be running. With completions set it
// is what is left to do, capped by parallelism; without (a work queue) it
// is parallelism until one pod succeeded, after which no new pod starts.
//
// Examples: completions=5 parallelism=2 succeeded=0 → 2; succeeded=4 → 1;
// succeeded=5 → 0. Work queue parallelism=3: succeeded=0 → 3; succeeded=1
// with 2 still active → 2 (they are left to finish).
func wantActive(job *batchv1.Job, succeeded, active int32) int32 {
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
	if job.Spec.Completions == nil {
		if succeeded > 0 {
			return active
		}
		return parallelism
	}
	return max(0, min(*job.Spec.Completions-succeeded, parallelism))
}

// isComplete: every completion is done (or, for a work queue, some pod
// succeeded) and nothing runs any more.
func isComplete(job *batchv1.Job, succeeded, active int32) bool {
	if active != 0 {
		return false
	}
	if job.Spec.Completions == nil {
		return succeeded > 0
	}
	return succeeded >= *job.Spec.Completions
}

func isSuspended(job *batchv1.Job) bool {
	return job.Spec.Suspend != nil && *job.Spec.Suspend
}

func findCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func hasTrueCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	if c := findCondition(job.Status.Conditions, t); c != nil && c.Status == corev1.ConditionTrue {
		return c
	}
	return nil
}

// finishedCondition returns the terminal condition (Complete or Failed) of
// a finished Job, or nil.
func finishedCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func newCondition(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{
		Type:               t,
		Status:             status,
		Reason:             reason,
		Message:            message,
		LastProbeTime:      metav1.NewTime(now),
		LastTransitionTime: metav1.NewTime(now),
	}
}

// ensureCondition sets a condition, reporting whether the list changed. A
// condition that does not exist is not added as False: going from nothing
// to False says nothing.
func ensureCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) ([]batchv1.JobCondition, bool) {
	if c := findCondition(conds, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return conds, false
		}
		*c = *newCondition(t, status, reason, message, now)
		return conds, true
	}
	if status == corev1.ConditionFalse {
		return conds, false
	}
	return append(conds, *newCondition(t, status, reason, message, now)), true
}

// deadlineRemaining is how long a started, unsuspended Job with
// activeDeadlineSeconds may still run; ok is false when no deadline runs.
// Example: deadline 60s, started 45s ago → 15s; started 70s ago → -10s.
func deadlineRemaining(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return 0, false
	}
	allowed := time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second
	return allowed - now.Sub(job.Status.StartTime.Time), true
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure the kubelet
// restarts containers in place, so failures show as restarts of running
// pods. The sum of restarts reaching backoffLimit fails the Job (any
// restart when the limit is 0).
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure || job.Spec.BackoffLimit == nil {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}
