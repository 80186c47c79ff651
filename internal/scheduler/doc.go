// Package scheduler is Skiff's pod scheduler: it assigns pending pods to
// nodes through the pods/binding subresource, with upstream
// kube-scheduler's default plugins as the reference for what fits and what
// is preferred.
//
// # What it owns
//
// Pods with spec.nodeName empty and spec.schedulerName "default-scheduler"
// (or empty) that are not being deleted, not finished and not gated. For
// those it writes a binding, the PodScheduled=False condition (reason
// Unschedulable or SchedulerError) when no node fits, and the events
// Scheduled / FailedScheduling. It must not touch anything else: not node
// objects, not pods bound to nodes, not other schedulers' pods.
//
// # How it is built
//
//   - handlers.go: informer events become cache updates, queue keys and
//     "cluster changed" signals tagged with the plugins they may help.
//   - queue.go: the scheduling queue. Active pods in a heap by priority then
//     arrival; failed pods back off exponentially (1s doubling to 10s);
//     pods no node fits wait in an unschedulable area until a relevant
//     cluster event, or 5 minutes at most. Waits are AddAfter on a
//     client-go delaying queue driven by the injected clock.
//   - cache.go, nodeinfo.go: per-node requested resources, pod counts and
//     host ports kept incrementally from informer events, plus indexes of
//     pods by label, namespace and controller for spreading and affinity.
//     A decision assumes its pod onto the chosen node at once, so the next
//     decision sees it; the informer's update confirms it; a failed binding
//     forgets it.
//   - cycle.go: one decision: filters in upstream's order (first rejection
//     wins), upstream's percentageOfNodesToScore sampling for clusters of
//     100 nodes or more, scores normalized and weighted as upstream's
//     default profile, ties broken at random.
//   - filters.go, scores.go, topologyspread.go, interpodaffinity.go: the
//     plugins NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts,
//     NodeResourcesFit (LeastAllocated), NodeResourcesBalancedAllocation,
//     PodTopologySpread and InterPodAffinity.
//   - bind.go: bindings and condition writes on a pool of workers, so API
//     latency never holds up the decision loop.
//   - latency.go: per-pod latencies (Latencies, Stats) for benchmarks.
//
// # Where it knowingly differs from upstream
//
//   - No preemption: the FailedScheduling message ends after the filter
//     reasons and claims nothing about preemption (upstream appends
//     "preemption: 0/N nodes are available: ...").
//   - A node whose Ready condition is not True is treated as if it carried
//     the node.kubernetes.io/not-ready (or unreachable, for Unknown)
//     NoSchedule taint that upstream's node lifecycle controller would put
//     there, so the failure reads as upstream's and tolerations apply.
//   - The default spreading of pods that set no topologySpreadConstraints
//     (upstream's system defaults: hostname maxSkew 3, zone maxSkew 5,
//     ScheduleAnyway) groups pods by their controller ownerReference rather
//     than by the selectors of Services, ReplicaSets and StatefulSets that
//     select them.
//   - Not implemented: ImageLocality, volume plugins (VolumeBinding,
//     VolumeZone, VolumeRestrictions, NodeVolumeLimits), DRA, nominated
//     nodes, multiple profiles, extenders, Permit/PreBind gates.
//   - Queueing hints are coarse: an event wakes the pods rejected by any
//     plugin it concerns, without asking the plugin about the specific
//     object. Namespace label changes wake nobody (upstream retries pods
//     whose affinity uses a namespaceSelector).
//   - Two topology spread constraints of one pod with the same topology key
//     are counted separately (upstream sums them per key).
//   - Binding workers are a fixed pool (32) rather than a goroutine per
//     pod; the loop waits when 256 bindings are queued.
//
// # Observing it
//
// Latencies returns the recent per-pod end-to-end latencies (first seen
// pending to binding acknowledged) and Stats adds counters and the
// percentiles of those and of the successful attempt alone;
// TestSchedulingThroughput reports them for 10,000 pods on 100 nodes.
// Logs are quiet at the default level: V(2) lifecycle, V(3) each failed
// attempt, V(4) each binding.
package scheduler
