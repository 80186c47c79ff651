// Package discovery holds the registry strategy for discovery.k8s.io/v1
// EndpointSlices: port defaulting, address validation per address type,
// the generation rule and the server-side table.
//
// It owns what a slice may contain, not how slices are computed from
// Services (the EndpointSlice controller) or consumed (the service proxy
// and DNS). Nothing here touches storage or HTTP.
//
// Where Skiff knowingly differs from upstream:
//   - Validation runs on v1 objects, so topology errors name the v1 field
//     (endpoints[i].deprecatedTopology) rather than the internal "topology".
//   - The generation is bumped by Skiff's generic rule (any change outside
//     metadata); label changes, which upstream also counts, are bumped in
//     PrepareForUpdate.
//   - As upstream, loopback, link-local and unspecified addresses are
//     rejected: runtimes, including the simulated one, must hand pods
//     routable addresses.
package discovery
