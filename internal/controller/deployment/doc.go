// Package deployment rolls Deployments out through ReplicaSets, as
// upstream's deployment controller does: RollingUpdate within maxSurge and
// maxUnavailable, Recreate, pause/resume, proportional scaling of several
// active ReplicaSets, revision annotations and history cleanup, and the
// Progressing/Available conditions that `kubectl rollout status` reads.
//
// What it owns: ReplicaSets whose controller reference is a Deployment
// (creating them as "<deployment>-<pod-template-hash>", sizing them,
// adopting matching orphans, releasing ones whose labels stop matching,
// deleting old ones beyond revisionHistoryLimit), the Deployment's status,
// and its deployment.kubernetes.io/revision annotation. It never creates
// or deletes pods (the replicaset package does) and never changes a
// Deployment's spec.
//
// Files: sync.go picks the step; rolling.go, recreate.go and scale.go are
// the steps; newrs.go finds or creates the new ReplicaSet; status.go and
// progress.go compute and write the status; replicas.go and revision.go
// are the pure arithmetic and annotation rules.
//
// Where it knowingly differs from upstream:
//   - Rollback through spec.rollbackTo / the deprecated.deployment.rollback.to
//     annotation (extensions/v1beta1) is not implemented: apps/v1 has no
//     such field and `kubectl rollout undo` patches the template from the
//     old ReplicaSet itself, which this controller follows like any
//     template change (the old ReplicaSet becomes the new one and gets the
//     next revision, keeping its past in revision-history).
//   - RollingUpdate decisions count each ReplicaSet as max(spec, status)
//     replicas for the surge ceiling and min(spec, available) for
//     availability, where upstream uses spec and status alone. A
//     scale-down the ReplicaSet controller has not carried out yet then
//     neither lets new pods exceed replicas+maxSurge nor counts pods about
//     to be deleted as available. Reported status is computed exactly as
//     upstream computes it.
//   - The revision annotation is written with a metadata patch rather than
//     riding on the status update, because Skiff's status subresource
//     keeps all metadata from storage (upstream keeps annotations from the
//     request).
//   - Pods are found through an index on the shared pod informer
//     (controller UID) instead of listing by selector, and only pod
//     deletions are watched (Recreate waits on them).
package deployment
