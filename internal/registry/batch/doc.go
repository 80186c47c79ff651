// Package batch holds the registry strategies for batch/v1 jobs and
// cronjobs, and the cron schedule parser (ParseSchedule) that both CronJob
// validation and the CronJob controller use, so a schedule the API server
// accepts is one the controller can run.
//
// It owns Job selector generation: on create, unless spec.manualSelector
// is true, the pod template gets the controller-uid and job-name labels
// (legacy and batch.kubernetes.io/ forms) and the selector matches the
// uid. The API server sets metadata.uid before PrepareForCreate, which
// this relies on. Pod templates are defaulted and validated by the core
// package; this package must not add pod rules of its own, and must not
// touch storage or HTTP.
//
// Where Skiff knowingly differs from upstream:
//   - Validation runs on v1 objects; upstream's internal-type checks are
//     applied to the v1 fields.
//   - Job status validation enforces the always-on rules (non-negative
//     counts, well-formed uncounted pods, terminal conditions and counters
//     that never go back, a completion time that never moves or precedes
//     the start) but not the finer consistency rules upstream gates on
//     feature flags and on which fields a write changed.
//   - A Job whose labels were empty gets the full generated template labels
//     at create time; upstream reaches the same result through defaulting
//     on read, which Skiff does not do.
//   - The cron parser is Skiff's own: robfig/cron is not a dependency. It
//     accepts the same syntax with the same error texts, and time zones
//     come from the embedded tzdata.
package batch
