// Package daemonset runs a DaemonSet's pod on every node that qualifies,
// as upstream's pkg/controller/daemon does.
//
// It owns the DaemonSet's pods (creating them unscheduled, pinned to their
// node by a required node affinity on metadata.name, for the scheduler to
// bind), the DaemonSet's ControllerRevisions, and the DaemonSet status
// subresource. It must not bind pods, mark them ready or delete pods bound
// to nodes that no longer exist: those belong to the scheduler, the node
// agent and pod garbage collection.
//
// A node qualifies when the template's nodeName (if any), nodeSelector
// and required node affinity match it and it carries no NoSchedule or
// NoExecute taint the pod does not tolerate, counting the tolerations
// every daemon pod gets (not-ready, unreachable, disk/memory/PID
// pressure, unschedulable, and network-unavailable for host-network
// pods). A pod already on a node stays through new NoSchedule taints and
// goes on an untolerated NoExecute taint.
//
// Where Skiff knowingly differs from upstream:
//   - Revision hashes come from package history (FNV-1a of the revision
//     data), so controller-revision-hash values differ from upstream's for
//     the same template; pods made by upstream are still recognised by
//     their pod-template-generation label.
//   - Rolling updates visit nodes in name order rather than map order, so
//     which old pods go first is deterministic.
//   - An invalid maxSurge/maxUnavailable is reported as an event
//     (InvalidRollingUpdate) instead of being retried.
//   - Pod adoption and release patch the whole ownerReferences list with a
//     merge patch guarded by resourceVersion.
package daemonset
