// Package endpointslice is upstream's EndpointSlice controller: for every
// Service with a selector it keeps discovery.k8s.io/v1 EndpointSlices
// listing the matching pods that have an IP, at most 100 endpoints per
// slice, grouped by the ports each pod resolves (named targetPorts are
// looked up per pod). Every endpoint carries upstream's conditions: serving
// is the pod's readiness, terminating is its deletionTimestamp, and ready is
// serving and not terminating (always true with publishNotReadyAddresses).
// Terminating pods stay listed, so proxies can drain to them.
//
// What it owns: slices labelled endpointslice.kubernetes.io/managed-by=
// endpointslice-controller.k8s.io and kubernetes.io/service-name=<service>,
// controlled by the Service through an owner reference (the garbage
// collector deletes them with it), annotated with
// endpoints.kubernetes.io/last-change-trigger-time. A Service without
// endpoints keeps one empty placeholder slice.
//
// What it must not touch: slices managed by anyone else, and Services
// without a selector or of type ExternalName.
//
// Writes are minimal because the data path watches slices: an endpoint
// keeps its slice while its conditions change, unchanged slices are never
// rewritten, new endpoints go first into slices that are being written
// anyway, and a create paired with a delete becomes one update. The
// reconciler (reconcile.go) is a pure function of the Service, its pods
// and its current slices. A tracker of this controller's own writes keeps
// a lagging informer cache from causing duplicate slices.
//
// Where it knowingly differs from upstream: no Node informer, so endpoints
// carry no zone and a pod on a Node that does not exist is still listed;
// no topology hints or trafficDistribution hints; slices of an address
// type are filled in a deterministic (sorted) order rather than map order.
package endpointslice
