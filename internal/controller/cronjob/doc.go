// Package cronjob runs batch/v1 CronJobs: at each schedule time it creates
// a Job from the CronJob's jobTemplate, named <cronjob>-<scheduled time in
// minutes since the epoch> and annotated with
// batch.kubernetes.io/cronjob-scheduled-timestamp, so that a restart
// between creating a Job and recording it never starts the same run twice.
//
// It owns the CronJob's status (active, lastScheduleTime,
// lastSuccessfulTime) and the Jobs it created: it deletes the oldest
// finished ones beyond the history limits, and the running ones under
// concurrencyPolicy Replace. It must not touch the Jobs' pods (the Job
// controller and the garbage collector do) nor the CronJob's spec.
//
// Time comes from the injected clock. After each sync the key is queued
// (AddAfter on that clock) for the next schedule time, so nothing polls.
// Schedules are parsed by internal/registry/batch, the parser API
// validation uses, with spec.timeZone passed as its TZ= prefix.
//
// Where Skiff knowingly differs from upstream:
//   - Missed schedule times are counted by walking the schedule rather than
//     by dividing the elapsed time by the first interval, so the count (and
//     the TooManyMissedTimes warning past 100) is exact for irregular
//     schedules and across daylight-saving changes; a long outage is
//     searched back from now in doubling windows instead of walked.
//   - A Job found running but missing from status.active is only reported
//     (UnexpectedJob) after a live read of the CronJob; upstream then also
//     adopts the freshly read status for the rest of that sync.
//   - A schedule that never fires (February 30th) reports InvalidSchedule
//     when the wake-up is computed, where upstream reports it while looking
//     for missed times.
//   - No metrics are exported.
package cronjob
