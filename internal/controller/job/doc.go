// Package job runs batch/v1 Jobs, and holds the TTL-after-finished
// controller that deletes finished Jobs once their
// spec.ttlSecondsAfterFinished has passed.
//
// The Job controller owns a Job's pods and its status: it creates pods
// from the template (slow-start batches, expectations so a lagging cache
// never double-creates), keeps min(parallelism, remaining completions)
// running, counts how they end through the batch.kubernetes.io/job-tracking
// finalizer and status.uncountedTerminatedPods (see tracking.go), and
// decides the outcome: Complete via the interim SuccessCriteriaMet
// condition, or Failed via FailureTarget for BackoffLimitExceeded,
// DeadlineExceeded, PodFailurePolicy, FailedIndexes and
// MaxFailedIndexesExceeded. It implements Indexed completion (index
// annotation and label, JOB_COMPLETION_INDEX, hostname <job>-<index>,
// completedIndexes), the pod failure back-off, backoffLimitPerIndex,
// podFailurePolicy, successPolicy, podReplacementPolicy, suspend and
// activeDeadlineSeconds. It must not touch pods it does not own (other
// controllers' finalizers and references stay), nor Jobs whose
// spec.managedBy names another controller, nor the Job's spec.
//
// Time is read from the injected clock and every wait (back-off, deadline,
// TTL) is a workqueue AddAfter on that clock.
//
// Where Skiff knowingly differs from upstream:
//   - The pod failure back-off is capped at 6 minutes, the documented
//     batch/v1 behaviour (upstream's current code caps it at 10 minutes).
//   - While a Job waits out a back-off, status.active keeps counting the
//     pods still running; upstream reports 0 for that sync.
//   - No metrics are exported.
//   - The interim conditions (SuccessCriteriaMet, FailureTarget) and
//     status.terminating are always written, as upstream does once the
//     JobManagedBy/JobPodReplacementPolicy/JobSuccessPolicy gates are on
//     (they are GA); there are no feature gates.
package job
