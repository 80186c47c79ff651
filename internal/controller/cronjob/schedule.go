package cronjob

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/internal/registry/batch"
)

// tooManyMissed is upstream's bound on missed schedule times: beyond it the
// controller warns (a stopped controller or a skewed clock) instead of
// pretending it can catch up.
const tooManyMissed = 100

// nextScheduleDelta pads each wake-up so that a clock a little behind the
// scheduled instant does not wake the controller just before it.
const nextScheduleDelta = 100 * time.Millisecond

// scheduleSpec is the schedule string to parse: spec.timeZone becomes the
// parser's "TZ=" prefix. A schedule that names its own zone (CRON_TZ=,
// TZ=, which validation refuses on new objects) keeps it.
func scheduleSpec(cj *batchv1.CronJob) string {
	if strings.Contains(cj.Spec.Schedule, "TZ") || cj.Spec.TimeZone == nil {
		return cj.Spec.Schedule
	}
	return fmt.Sprintf("TZ=%s %s", *cj.Spec.TimeZone, cj.Spec.Schedule)
}

func parseSchedule(cj *batchv1.CronJob) (batch.Schedule, error) {
	return batch.ParseSchedule(scheduleSpec(cj))
}

// lastScheduled is where the search for missed times starts: the last time
// a Job was started, or the CronJob's creation.
func lastScheduled(cj *batchv1.CronJob) time.Time {
	if cj.Status.LastScheduleTime != nil {
		return cj.Status.LastScheduleTime.Time
	}
	return cj.CreationTimestamp.Time
}

// unmetSchedules finds the schedule times in (earliest, now]: the latest
// one (zero if none) and how many there are, counting at most
// tooManyMissed+1 of them.
//
// Counting walks Next one time after another, so it is exact across
// daylight-saving changes (a daily 09:00 in Europe/Berlin is 23 or 25
// hours apart around them) and irregular schedules ("30 9 * * 1-5"),
// where dividing elapsed time by an interval would be off by one.
func unmetSchedules(sched batch.Schedule, earliest, now time.Time) (latest time.Time, count int) {
	for t := sched.Next(earliest); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		latest = t
		count++
		if count > tooManyMissed {
			return latestUpTo(sched, latest, now), count
		}
	}
	return latest, count
}

// latestUpTo returns the last schedule time at or before now, given one
// (known) that is. Rather than walking every time since known (a
// minute-by-minute schedule missed for a year is half a million), it
// searches back from now in doubling windows until one holds a time, then
// walks only that window. Example: every minute, now 10:00:30 → the first
// window (09:59:30, 10:00:30] holds 10:00.
func latestUpTo(sched batch.Schedule, known, now time.Time) time.Time {
	for window := time.Minute; ; window *= 2 {
		from := now.Add(-window)
		if !from.After(known) {
			from = known
		}
		if t := sched.Next(from); !t.IsZero() && !t.After(now) {
			latest := t
			for t = sched.Next(t); !t.IsZero() && !t.After(now); t = sched.Next(t) {
				latest = t
			}
			return latest
		}
		if from.Equal(known) {
			return known
		}
	}
}

// dueSchedule returns the schedule time a Job should start for now, if
// any: the latest unmet one, not older than startingDeadlineSeconds. It
// also reports whether too many times were missed.
//
// Example: hourly, last run 06:00, now 09:20, no deadline → 09:00 (07:00
// and 08:00 are skipped: only the latest missed run starts). With
// startingDeadlineSeconds=600 the search starts at 09:10 and finds nothing.
func dueSchedule(cj *batchv1.CronJob, sched batch.Schedule, now time.Time) (time.Time, bool) {
	earliest := lastScheduled(cj)
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if limit := now.Add(-time.Duration(*d) * time.Second); limit.After(earliest) {
			earliest = limit
		}
	}
	latest, count := unmetSchedules(sched, earliest, now)
	return latest, count > tooManyMissed
}

// nextWakeUp is how long to wait until the schedule time after the latest
// one due by now; false when the schedule never fires again.
//
// Example: every 5 minutes, last run 10:00, now 10:02 → 10:05 is 3m away
// (plus the delta). Now 10:07 with 10:05 not yet run → 10:10, 3m away: the
// 10:05 run is handled by the sync that computes this.
func nextWakeUp(cj *batchv1.CronJob, sched batch.Schedule, now time.Time) (time.Duration, bool) {
	base := lastScheduled(cj)
	if latest, _ := unmetSchedules(sched, base, now); !latest.IsZero() {
		base = latest
	}
	next := sched.Next(base)
	if next.IsZero() {
		return 0, false
	}
	return next.Add(nextScheduleDelta).Sub(now), true
}

// jobName is deterministic per scheduled time (minutes since the epoch),
// so a controller that restarts between creating a Job and recording it
// finds the Job already there instead of starting it twice.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate builds the Job for one scheduled time.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	tz := ""
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", tz, err)
	}
	tmpl := &cj.Spec.JobTemplate
	labels := make(map[string]string, len(tmpl.Labels))
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	annotations := make(map[string]string, len(tmpl.Annotations)+1)
	for k, v := range tmpl.Annotations {
		annotations[k] = v
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
	}
	tmpl.Spec.DeepCopyInto(&job.Spec)
	return job, nil
}

// jobFinished returns the terminal condition type of a finished Job.
func jobFinished(j *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}
