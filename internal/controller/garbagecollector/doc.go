// Package garbagecollector is the garbage collector, upstream's
// pkg/controller/garbagecollector. It watches the metadata of every
// resource discovery reports as listable, watchable and deletable (the
// metadata client asks for PartialObjectMetadata, so one code path
// serves built-in kinds and custom resources alike), builds the
// owner→dependents graph from ownerReferences, and enforces the three
// deletion policies:
//
//   - Background: when an owner is gone, its dependents are deleted.
//   - Foreground: an owner carrying deletionTimestamp and the
//     foregroundDeletion finalizer waits while its dependents are
//     deleted (those with dependents of their own in the foreground too);
//     once no dependent with blockOwnerDeletion=true is left, the
//     finalizer is removed and the API server finishes the delete.
//   - Orphan: an owner carrying the orphan finalizer has its reference
//     removed from every dependent, then the finalizer.
//
// An owner counts as gone only when a live GET finds nothing under its
// name or finds another uid there; absence from the graph proves
// nothing. Cluster-scoped owners may own namespaced dependents; a
// cluster-scoped object naming an owner of a namespaced kind is left
// alone with an OwnerRefInvalidNamespace warning event, as is reported a
// namespaced dependent naming an owner observed in another namespace
// (that owner is absent from the dependent's point of view).
//
// Files: graph.go (the graph and how informer events change it, no API
// calls), monitors.go (discovery and one metadata informer per
// resource, re-read every DiscoveryResyncPeriod for new CRDs), sync.go
// (the delete decision for one object), orphan.go (orphaning and the
// metadata patches).
//
// It owns ownerReferences it finds dangling and the orphan and
// foregroundDeletion finalizers; it never touches other finalizers or
// any spec or status.
//
// Known differences from upstream: graph events are applied in the
// informers' handlers under one lock (upstream queues them to a single
// goroutine); queues hold uids, not node pointers; ownerReference and
// finalizer patches are JSON merge patches pinned to the resourceVersion
// read just before (upstream tries a strategic merge patch first); there
// are no metrics and no debug graph endpoint. Events are ignored, as
// upstream's default --gc-ignored-resources.
package garbagecollector
