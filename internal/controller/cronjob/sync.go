package cronjob

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
)

// Event reasons, as upstream's.
const (
	reasonSuccessfulCreate    = "SuccessfulCreate"
	reasonFailedCreate        = "FailedCreate"
	reasonSuccessfulDelete    = "SuccessfulDelete"
	reasonFailedDelete        = "FailedDelete"
	reasonFailedGet           = "FailedGet"
	reasonSawCompletedJob     = "SawCompletedJob"
	reasonUnexpectedJob       = "UnexpectedJob"
	reasonMissingJob          = "MissingJob"
	reasonMissSchedule        = "MissSchedule"
	reasonTooManyMissed       = "TooManyMissedTimes"
	reasonJobAlreadyActive    = "JobAlreadyActive"
	reasonUnknownTimeZone     = "UnknownTimeZone"
	reasonUnparseableSchedule = "UnparseableSchedule"
	reasonUnparseableUpdate   = "UnParseableCronJobSchedule"
	reasonInvalidSchedule     = "InvalidSchedule"
	reasonUnsupportedSchedule = "UnsupportedSchedule"
)

// errStaleCache makes a sync that read an outdated CronJob retry once the
// informer has the newer one.
var errStaleCache = errors.New("cronjob cache is behind the API server")

// sync reconciles one CronJob and returns when it is next due (nil: only
// a change will bring it back).
func (c *Controller) sync(ctx context.Context, key string) (*time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, fmt.Errorf("cronjob key %q: %w", key, err)
	}
	shared, err := c.cronJobLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	jobs, err := c.jobsOf(shared)
	if err != nil {
		return nil, err
	}
	cj := shared.DeepCopy()
	changed := c.cleanupFinishedJobs(ctx, cj, jobs)
	reconciled, err := c.reconcileJobs(ctx, cj, jobs)
	if err != nil {
		return nil, err
	}
	requeue, started, runErr := c.runSchedule(ctx, cj)
	if changed || reconciled || started {
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("updating status of cronjob %s: %w", key, err)
		}
	}
	if runErr != nil {
		return nil, runErr
	}
	return requeue, nil
}

// jobsOf lists the Jobs the CronJob controls, whatever their labels.
func (c *Controller) jobsOf(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := c.jobLister.Jobs(cj.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*batchv1.Job
	for _, j := range all {
		if metav1.IsControlledBy(j, cj) {
			out = append(out, j)
		}
	}
	return out, nil
}

// reconcileJobs brings status.active and lastSuccessfulTime in line with
// the Jobs that exist, and reports whether the status changed.
func (c *Controller) reconcileJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (bool, error) {
	changed := false
	exists := map[types.UID]bool{}
	for _, j := range jobs {
		exists[j.UID] = true
		inActive := isActive(cj, j.UID)
		cond, finished := jobFinished(j)
		switch {
		case !inActive && !finished:
			// Running but unrecorded: our cache of the CronJob may be behind
			// the write that recorded it, so ask the API server.
			fresh, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
			if err != nil {
				return changed, fmt.Errorf("reading cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
			}
			if fresh.ResourceVersion != cj.ResourceVersion {
				return changed, errStaleCache
			}
			if !isActive(fresh, j.UID) {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonUnexpectedJob, "Saw a job that the controller did not create or forgot: %s", j.Name)
			}
		case inActive && finished:
			removeActive(cj, j.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonSawCompletedJob, "Saw completed job: %s, condition: %v", j.Name, cond)
			changed = true
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil {
			if last := cj.Status.LastSuccessfulTime; last == nil || j.Status.CompletionTime.After(last.Time) {
				cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
				changed = true
			}
		}
	}
	// An active Job the cache does not have may be newer than the cache,
	// or gone: only a live read tells.
	for _, ref := range slices.Clone(cj.Status.Active) {
		if exists[ref.UID] {
			continue
		}
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonMissingJob, "Active job went missing: %v", ref.Name)
			removeActive(cj, ref.UID)
			changed = true
		case err != nil:
			return changed, fmt.Errorf("reading job %s/%s: %w", ref.Namespace, ref.Name, err)
		}
	}
	return changed, nil
}

// runSchedule starts the Job due now, if any and if the policies allow,
// and returns when to look again and whether the status changed.
func (c *Controller) runSchedule(ctx context.Context, cj *batchv1.CronJob) (*time.Duration, bool, error) {
	logger := klog.FromContext(ctx).WithValues("cronjob", klog.KObj(cj))
	if cj.DeletionTimestamp != nil {
		return nil, false, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonUnknownTimeZone, "invalid timeZone: %q: %s", *tz, err)
			return nil, false, nil
		}
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return nil, false, nil // resuming is a spec change, which brings the key back
	}
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonUnsupportedSchedule, "CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
	}
	sched, err := parseSchedule(cj)
	if err != nil {
		// A user error: nothing to do until the spec changes.
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonUnparseableSchedule, "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, false, nil
	}
	now := c.clock.Now()
	wakeUp := func() *time.Duration {
		if d, ok := nextWakeUp(cj, sched, now); ok {
			return &d
		}
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonInvalidSchedule, "invalid schedule: %s : no time matches it in the next five years", cj.Spec.Schedule)
		return nil
	}
	scheduled, tooMany := dueSchedule(cj, sched, now)
	if tooMany {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonTooManyMissed, "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
		logger.Info("Too many missed start times", "schedule", cj.Spec.Schedule)
	}
	if scheduled.IsZero() {
		return wakeUp(), false, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonMissSchedule, "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return wakeUp(), false, nil
	}
	if isActiveByName(cj, jobName(cj, scheduled)) || (cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: scheduled})) {
		return wakeUp(), false, nil // already started
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0 {
		// The run is not skipped for good: when the active Job finishes,
		// its event brings the key back and the run starts late, within
		// startingDeadlineSeconds.
		c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonJobAlreadyActive, "Not starting job because prior execution is running and concurrency policy is Forbid")
		return wakeUp(), false, nil
	}
	replaced := false
	if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		var err error
		if replaced, err = c.replaceActive(ctx, cj); err != nil {
			return nil, replaced, err
		}
	}
	started, err := c.startJob(ctx, cj, scheduled)
	if err != nil {
		return nil, replaced, err
	}
	return wakeUp(), replaced || started, nil
}

// replaceActive deletes the still-running Jobs before the next one starts.
func (c *Controller) replaceActive(ctx context.Context, cj *batchv1.CronJob) (bool, error) {
	changed := false
	for _, ref := range slices.Clone(cj.Status.Active) {
		job, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonFailedGet, "Get job: %v", err)
			return changed, fmt.Errorf("reading job %s/%s to replace it: %w", ref.Namespace, ref.Name, err)
		}
		if err := c.deleteJob(ctx, cj, job); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// startJob creates the Job for a scheduled time and records it as active.
func (c *Controller) startJob(ctx context.Context, cj *batchv1.CronJob, scheduled time.Time) (bool, error) {
	req, err := jobFromTemplate(cj, scheduled)
	if err != nil {
		return false, err
	}
	job, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, req, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return false, err
	case apierrors.IsAlreadyExists(err):
		// Created before, by us before a restart or by someone else.
		existing, getErr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, req.Name, metav1.GetOptions{})
		if getErr != nil {
			return false, fmt.Errorf("reading existing job %s/%s: %w", cj.Namespace, req.Name, getErr)
		}
		if !metav1.IsControlledBy(existing, cj) || isActive(cj, existing.UID) {
			return false, nil
		}
		job = existing
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonFailedCreate, "Error creating job: %v", err)
		return false, fmt.Errorf("creating job %s/%s: %w", cj.Namespace, req.Name, err)
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonSuccessfulCreate, "Created job %v", job.Name)
	}
	ref, err := reference.GetReference(scheme.Scheme, job)
	if err != nil {
		return false, fmt.Errorf("reference to job %s/%s: %w", job.Namespace, job.Name, err)
	}
	cj.Status.Active = append(cj.Status.Active, *ref)
	cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return true, nil
}

// deleteJob deletes a Job (its pods follow by garbage collection) and drops
// it from the active list.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, job *batchv1.Job) error {
	background := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &background})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reasonFailedDelete, "Deleted job: %v", err)
		return fmt.Errorf("deleting job %s/%s: %w", job.Namespace, job.Name, err)
	}
	removeActive(cj, job.UID)
	c.recorder.Eventf(cj, corev1.EventTypeNormal, reasonSuccessfulDelete, "Deleted job %v", job.Name)
	return nil
}

func isActive(cj *batchv1.CronJob, uid types.UID) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

func isActiveByName(cj *batchv1.CronJob, name string) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name && r.Namespace == cj.Namespace })
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}
