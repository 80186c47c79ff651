// Package replicaset keeps the number of pods of each ReplicaSet and
// ReplicationController equal to its spec.replicas, as upstream's
// replicaset controller and replication manager do.
//
// One core serves both kinds. Upstream runs its ReplicaSet controller over
// ReplicationControllers by converting RCs to RSs behind adapted informers
// and clients; here the core works on a small view of the object (owner in
// kind.go) and each kind supplies how to read it from its lister, how to
// write its status and how to re-read it live. Everything else (adoption,
// expectations, slow-start creation, deletion ranking, status) is shared.
//
// What it owns: pods whose controller ownerReference points at a
// ReplicaSet/ReplicationController (creating, deleting, adopting matching
// orphans, releasing pods whose labels stopped matching) and the status of
// those owners. It never writes an owner's spec or metadata, and never
// touches pods owned by another controller.
//
// Where it knowingly differs from upstream:
//   - Pods are found through an index on the pod informer (controller UID,
//     plus per-namespace orphans) instead of listing every pod of the
//     namespace on each sync; "related pods" used to rank deletions are the
//     pods owned by sibling ReplicaSets (same controller) rather than the
//     pods their selectors match.
//   - An owner whose selector is empty matches no pods (upstream's
//     validation forbids such selectors; we refuse to adopt a whole
//     namespace should one slip through).
//   - After a pod turns ready the owner is requeued for exactly the moment
//     the earliest pod becomes available (plus a second for timestamp
//     rounding), computed from the pods, instead of a flat minReadySeconds.
//   - status.terminatingReplicas (beta, on by default upstream) is
//     reported for ReplicaSets; ReplicationControllerStatus has no such
//     field.
package replicaset
