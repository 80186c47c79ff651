// Package resourcequota is upstream's resource quota controller: it keeps
// every ResourceQuota's status, with status.hard mirroring spec.hard and
// status.used the namespace's usage of each limited resource: pods and
// their cpu/memory/ephemeral-storage requests and limits (scopes
// Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass,
// CrossNamespacePodAffinity), services with their node ports and load
// balancers, persistent volume claims and requested storage (also per
// storage class), configmaps, secrets, replication controllers, quotas,
// and count/<resource>.<group> for any resource. Prices come from the
// usage package, which the admission plugin shares.
//
// When it recomputes: on a quota's creation or a change of its limits; on
// anything that may lower usage (a deletion, a pod finishing, a Service
// changing type, a claim changing size); every 5 minutes for all quotas;
// every 30 seconds for quotas counting resources it has no cache for.
// Not at once on a create or on a change of status.used alone: the
// admission plugin charges creates to status.used itself, and a
// recomputation from a cache that lags behind would hand those charges
// back. A change of status.used is recomputed 10 seconds later instead,
// which returns charges for writes that failed after admission.
//
// What it owns: ResourceQuota status. It must not touch quota specs or the
// objects it counts.
//
// Where it knowingly differs from upstream: resources outside the built-in
// informer set are counted by listing their metadata from the API server
// on a timer instead of through dynamically discovered informers; the
// delayed recomputation after a charge (upstream waits for the periodic
// resync to return charges of failed writes).
package resourcequota
