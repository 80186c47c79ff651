// Package history keeps the ControllerRevisions of the controllers that
// record their pod template history in them (DaemonSet and StatefulSet),
// the way upstream's pkg/controller/history does: a revision holds a
// strategic merge patch that restores spec.template, is named
// <owner>-<hash>, and is adopted or released by its owner like any child.
//
// It owns revision naming, hashing, the patch format, ordering and the
// create/adopt/release/renumber/delete calls. It must not decide which
// revision is current or when history is truncated: those are each
// controller's policy.
//
// Where Skiff knowingly differs from upstream:
//   - The hash is an FNV-1a hash of the patch bytes (plus the collision
//     count), not of a spew dump of the template; it is just as opaque and
//     stable, but the values differ from upstream's for the same template.
//   - Revision data is compared by bytes first and then as JSON values, so
//     a store that re-encodes the raw data does not create a new revision
//     on every sync.
//   - Adoption and release patch the whole ownerReferences list with a
//     JSON merge patch guarded by resourceVersion, instead of a strategic
//     merge patch keyed by uid.
package history
