// Package coordination holds the registry strategy for coordination.k8s.io/v1
// Leases, which node heartbeats and leader election write many times a
// second cluster-wide: validation and the server-side table only.
//
// It must not interpret leases (renewal, expiry and holder changes belong
// to their clients) and touches no storage or HTTP.
//
// Where Skiff knowingly differs from upstream: nothing intended. Leases
// have no defaults, no status subresource and no generation upstream
// either.
package coordination
