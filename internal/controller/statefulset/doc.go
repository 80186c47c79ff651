// Package statefulset gives each StatefulSet pods with stable identities,
// as upstream's pkg/controller/statefulset does: pod <set>-<ordinal> for
// ordinals spec.ordinals.start .. start+replicas-1, with hostname and
// subdomain for DNS through spec.serviceName, the
// statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index
// labels, and claims <template>-<set>-<ordinal> from volumeClaimTemplates
// that outlive the pods.
//
// It owns the set's pods, its PersistentVolumeClaims (creation, and the
// owner references through which persistentVolumeClaimRetentionPolicy
// lets the garbage collector delete them), its ControllerRevisions and
// its status subresource. It must not schedule, start or mark pods ready,
// and it never deletes claims itself: deletion is the garbage collector's
// job, driven by the owner references set here.
//
// OrderedReady creates pods one at a time in ordinal order, each after its
// predecessor is Running, Ready and available, and removes them one at a
// time from the highest ordinal; Parallel does both all at once. A
// RollingUpdate deletes pods at ordinals >= partition, highest first,
// within maxUnavailable (default 1), and they come back at the update
// revision; OnDelete waits for the user to delete them. Failed or
// succeeded pods are deleted and recreated.
//
// Where Skiff knowingly differs from upstream:
//   - Creation and deletion expectations (package expectations) gate each
//     pass, where upstream relies on AlreadyExists from fixed names alone.
//   - Rolling updates always use the maxUnavailable algorithm (upstream's
//     MaxUnavailableStatefulSet behaviour), counting a pod not yet
//     available under minReadySeconds as unavailable.
//   - A pod whose volumes no longer match the claim templates is not
//     updated (pod volumes are immutable); only its missing claims are
//     created.
//   - Revision hashes come from package history, so revision names differ
//     from upstream's for the same template; kubectl rollout history/undo
//     work unchanged.
//   - Status is computed from the pods observed at the start of the pass,
//     not adjusted for the pass's own deletes; the next pass corrects it.
package statefulset
