// Package resourcequota is upstream's ResourceQuota admission plugin.
//
// On the create of any namespaced object (and on updates that can raise
// usage: Services, PersistentVolumeClaims) it finds the namespace's quotas
// that limit the object (by resource and, for pods, scope), refuses it
// with 403 Forbidden when it leaves a constrained resource unstated
// ("failed quota: q: must specify limits.cpu for: app"), when a quota has
// no usage yet for what it limits ("status unknown for quota: ..."), or
// when usage plus its cost would pass a limit ("exceeded quota: q,
// requested: pods=1, used: pods=3, limited: pods=3"). Otherwise it charges
// the cost to each quota's status.used with an update conditional on the
// quota's resourceVersion before the object is stored; a lost race
// re-reads the quota and checks again, so concurrent creates can never
// both fit under one limit. Prices come from the controller/resourcequota
// usage package, which the quota controller shares; the controller later
// recomputes usage from what is actually stored.
//
// It reads quotas from an informer of its own factory, and from the API
// server (reused for 30 seconds per namespace) while that cache has not
// synced or shows none for the namespace. A refusal based on a cached
// quota is confirmed against the stored quota first.
//
// Where it knowingly differs from upstream: quotas are charged one after
// another by each request rather than in per-namespace batches; dry-run
// requests are checked but charge nothing. Skiff's API server runs
// admission before validation, so a create that validation then rejects
// has been charged until the quota controller recomputes (it does so 10
// seconds after every charge).
package resourcequota
