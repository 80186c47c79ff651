// Package podgc is the pod garbage collector, upstream's
// pkg/controller/podgc. Every check period it force-deletes (grace period
// 0) four kinds of pods nobody else will ever clean up:
//
//   - terminated pods (Succeeded or Failed) beyond TerminatedPodThreshold,
//     evicted ones first, then the oldest;
//   - terminating pods on a node that is not Ready and carries the
//     node.kubernetes.io/out-of-service taint (an operator's statement that
//     the node is gone for good, so its kubelet will never confirm);
//   - orphaned pods, bound to a node that no longer exists: a node missing
//     from the informer is quarantined for QuarantineTime and then checked
//     with a live GET, so a lagging cache never costs a pod;
//   - unscheduled pods that are terminating (held by finalizers only).
//
// Before deleting a pod that is not yet terminal it moves the pod to
// phase Failed, and for orphaned pods adds the DisruptionTarget condition
// (reason DeletionByPodGC), so that Jobs and other owners see why it went.
//
// It owns nothing but those deletions: it never touches nodes, and it
// never deletes a pod its node might still be running.
//
// Known differences from upstream: the deletes carry a UID precondition
// (upstream's do not), so a pod recreated under the same name (a
// StatefulSet's) between the list and the delete is never force-deleted;
// the quarantine is a map of first-seen times on the injected clock
// rather than a delaying queue; there are no metrics.
package podgc
