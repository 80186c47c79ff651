// Package limitranger is upstream's LimitRanger admission plugin, mutating
// and validating in one Admit call.
//
// On pod creation it fills each container's and init container's unset
// requests and limits from the namespace's LimitRange Container defaults
// (recording them in the kubernetes.io/limit-ranger annotation), then
// enforces min, max and maxLimitRequestRatio per Container and, on the
// pod's effective totals, per Pod. On claim creation and update it bounds
// the requested storage by PersistentVolumeClaim min and max. A violation
// is a 403 Forbidden with upstream's wording, for example
// `pods "web" is forbidden: maximum cpu usage per Container is 1, but limit is 2`.
//
// It reads LimitRanges from an informer of its own factory, and from the
// API server (reused for 30 seconds per namespace) while that cache has
// not synced or shows none for the namespace.
//
// Where it knowingly differs from upstream: Skiff's API server computes a
// pod's status.qosClass before admission (upstream admits first), so when
// defaults are applied the plugin recomputes the QoS class; several
// violations are reported in a stable (sorted) order rather than map order.
package limitranger
