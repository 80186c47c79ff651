package cronjob

import (
	"context"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/klog/v2"
)

// cleanupFinishedJobs keeps at most successfulJobsHistoryLimit Complete and
// failedJobsHistoryLimit Failed Jobs, deleting the oldest first, and
// reports whether the status changed.
func (c *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch cond, _ := jobFinished(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	changed := false
	if limit := cj.Spec.SuccessfulJobsHistoryLimit; limit != nil && c.removeOldest(ctx, cj, succeeded, int(*limit)) {
		changed = true
	}
	if limit := cj.Spec.FailedJobsHistoryLimit; limit != nil && c.removeOldest(ctx, cj, failed, int(*limit)) {
		changed = true
	}
	return changed
}

// removeOldest deletes all but the newest keep Jobs.
func (c *Controller) removeOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) bool {
	n := len(jobs) - keep
	if n <= 0 {
		return false
	}
	jobs = append([]*batchv1.Job(nil), jobs...)
	sortByStartTime(jobs)
	changed := false
	for _, j := range jobs[:n] {
		if err := c.deleteJob(ctx, cj, j); err != nil {
			// The next sync tries again; the other deletions still go ahead.
			klog.FromContext(ctx).V(2).Info("Deleting old job failed", "job", klog.KObj(j), "err", err)
			continue
		}
		changed = true
	}
	return changed
}

// sortByStartTime orders Jobs oldest first; Jobs that never started come
// last, ties break on the name.
func sortByStartTime(jobs []*batchv1.Job) {
	sort.SliceStable(jobs, func(i, k int) bool {
		a, b := jobs[i].Status.StartTime, jobs[k].Status.StartTime
		switch {
		case a == nil && b == nil:
			return jobs[i].Name < jobs[k].Name
		case a == nil || b == nil:
			return b == nil
		case a.Equal(b):
			return jobs[i].Name < jobs[k].Name
		}
		return a.Before(b)
	})
}
