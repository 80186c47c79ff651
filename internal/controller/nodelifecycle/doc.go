// Package nodelifecycle holds two controllers of upstream's node
// lifecycle: the node lifecycle controller (pkg/controller/nodelifecycle)
// and the taint eviction controller (pkg/controller/tainteviction).
//
// The node lifecycle controller (New) checks every NodeMonitorPeriod
// that each node still heartbeats: a renewed Lease in kube-node-lease or
// a new Ready heartbeat time in its status, both timed by this
// controller's clock, never the node's. A node silent for longer than
// NodeMonitorGracePeriod (NodeStartupGracePeriod if it never posted
// status) has its Ready, MemoryPressure, DiskPressure and PIDPressure
// conditions set to Unknown ("Kubelet stopped posting node status."), and
// the pods on it get Ready=False. A node whose Ready condition is False or
// Unknown gets the node.kubernetes.io/not-ready or .../unreachable
// NoExecute taint, no faster than its zone's rate limiter allows, and the
// taints are removed when it is Ready again. Zones are judged as upstream
// does: if a large share of a zone is unhealthy tainting slows or stops,
// and if every node of every zone is unhealthy the controller assumes it
// is the one cut off and removes all NoExecute taints. Conditions are
// also mirrored as NoSchedule taints (not-ready, unreachable,
// memory-pressure, disk-pressure, pid-pressure, network-unavailable,
// unschedulable) for the scheduler.
//
// The taint eviction controller (NewTaintEviction) deletes pods from
// nodes with NoExecute taints they do not tolerate: at once without a
// matching toleration, after the shortest tolerationSeconds of the
// tolerations used otherwise, never when they tolerate forever. Before
// deleting it sets the DisruptionTarget condition (reason
// DeletionByTaintManager). The delete is graceful: on a dead node the pod
// stays Terminating until the pod garbage collector removes it (node
// deleted, or tainted out-of-service), while workload controllers no
// longer count it and create replacements. Every pod gets a 300s
// toleration of not-ready and unreachable from the DefaultToleration
// Seconds admission plugin (internal/admission/defaulttolerationseconds).
//
// They own node conditions of silent nodes, the taints above and the
// Ready condition of pods on unhealthy nodes; they never delete nodes and
// never force-delete pods.
//
// Known differences from upstream: a scheduled eviction whose pod's
// tolerations shrink moves earlier (counted from when it was first
// scheduled); upstream keeps the first deadline. Node label
// reconciliation (beta os/arch labels) and metrics are left out; taints
// are written with a JSON merge patch pinned to the resourceVersion.
package nodelifecycle
