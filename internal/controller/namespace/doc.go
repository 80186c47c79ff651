// Package namespace is the namespace lifecycle controller, upstream's
// pkg/controller/namespace (and its deletion package). When a namespace
// is marked for deletion it:
//
//  1. makes sure status.phase is Terminating;
//  2. deletes every namespaced resource in it that discovery says can be
//     deleted (deletecollection where served, else list and delete each
//     object), through the metadata client so that custom resources are
//     handled like built-in ones, with propagationPolicy Background so the
//     garbage collector never holds an object with the orphan finalizer;
//  3. checks what remains: pods still inside their termination grace
//     period and objects held by finalizers are waited for (the namespace
//     is requeued after half the estimate), anything else is an error and
//     retried with back-off;
//  4. records the upstream status conditions (NamespaceDeletionDiscovery
//     Failure, ...GVParsingFailure, ...ContentFailure, NamespaceContent
//     Remaining, NamespaceFinalizersRemaining) with upstream's reasons and
//     messages;
//  5. removes the "kubernetes" token from spec.finalizers through the
//     namespaces/finalize subresource.
//
// It owns the content of terminating namespaces and the "kubernetes"
// spec finalizer; it must not touch namespaces that are not being
// deleted, other spec finalizers, or metadata.finalizers.
//
// Difference from upstream: upstream's API server removes a namespace as
// soon as the finalize call leaves no spec and no metadata finalizers.
// Skiff's API server only does that on a DELETE, so after finalizing this
// controller deletes the namespace again (with a UID precondition); a
// namespace with metadata finalizers left stays until whoever owns them
// removes them. Namespace events are processed after DeletionGracePeriod
// (upstream's fixed 5s), which tests shorten.
package namespace
