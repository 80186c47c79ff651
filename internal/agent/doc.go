// Package agent is the core of Skiff's node agent, the kubelet's job: it
// registers a Node, heartbeats through a Lease in kube-node-lease, reports
// the node's status, and runs the pods bound to the node through a Runtime,
// writing their status back.
//
// # What it owns
//
//   - The Node it registers: the well-known labels (kubernetes.io/hostname,
//     kubernetes.io/os, kubernetes.io/arch and their beta twins), the
//     controller-managed-attach-detach annotation, and status (capacity,
//     allocatable, addresses, nodeInfo, and the conditions MemoryPressure,
//     DiskPressure, PIDPressure, Ready). The status is computed every 10s
//     and written when it changed, or every 5 minutes regardless.
//   - Its Lease, kube-node-lease/<node>, renewed every 10s with a 40s
//     duration and owned by the Node. This is the heartbeat the node
//     lifecycle controller watches. Stopping the agent (ending Run's
//     context) just stops the renewals: it looks like the node dying, and
//     nothing is written on the way out.
//   - The status of the pods bound to the node, and their final deletion
//     with grace period 0 once their containers are stopped.
//
// It must not touch anything else: not pod specs, not other nodes' pods, not
// the Node's spec (podCIDR comes from the control plane, taints from
// whoever set them).
//
// # How a pod is run
//
// Pod events (from a PodWatch, which several agents in one process may
// share) and runtime events (a container exited) queue the pod's UID. A
// worker then syncs that pod (sync.go): it reads the runtime's state for the
// pod, computes the next step (actions.go: create the sandbox, start the
// next init container or the regular containers, restart exited ones per
// restartPolicy with CrashLoopBackOff back-off, stop sidecars once the pod
// is done), executes it, and repeats until nothing more can happen now.
// Then it computes the pod status from the runtime state as the kubelet's
// generateAPIPodStatus does (status.go, phase.go: a pure function, tested
// with tables) and writes it with UpdateStatus if it changed, recomputing
// on a conflict. A pod that a runtime starts at once (the simulated one)
// goes from bound to Running and Ready in one status write; with
// Config.ReportContainerCreating the Pending/ContainerCreating status is
// written first, as the kubelet's first sync does.
//
// A deleted pod (deletionTimestamp set) first waits on Config.TerminationGate
// (the node's data paths no longer routing to it; at most half the grace
// period and 5s, counted against it), then has its containers stopped, its
// final status written (phase Succeeded or Failed, as recent kubelets do,
// so that Job controllers can count it) and is then deleted with grace
// period 0 and a UID precondition. A pod that finished (Succeeded, Failed) stays until the
// control plane deletes it; its sandbox is released at once.
//
// On start the agent adopts what is bound to its node. A Runtime that lost
// its state across the restart (the simulated one) implements Restorer and
// rebuilds it from the pods' API status, so running pods keep their IPs,
// container IDs and start times and no status is rewritten.
//
// # Where it knowingly differs from the kubelet
//
//   - No admission: pods are trusted to fit (the scheduler checked).
//   - Probes are a Prober's business; without one every running container
//     counts as started and ready. A ProbeManager (internal/agent/prober,
//     which the real node wires) runs startup, readiness and liveness
//     probes with the kubelet's timing and thresholds and resyncs the pod
//     when a verdict changes; a container it condemns (liveness or startup
//     failed) is killed at the next sync and restarts per restartPolicy.
//     Logs and exec do not exist yet.
//   - Lifecycle hooks (hooks_lifecycle.go; exec, httpGet, sleep) run only
//     on a runtime that implements Execer: the simulated one runs none.
//     postStart blocks the pod's sync (as it blocks the kubelet's
//     SyncPod) and a failed one kills the container; preStop runs inside
//     the grace period, what is left of it (at least 2s) going to
//     StopContainer. A pod's containers are killed in parallel, regular
//     ones before sidecars. A postStart failure shows as the container's
//     exit and back-off rather than a PostStartHookError waiting reason.
//   - Volumes and env from ConfigMaps/Secrets/downward API/service links
//     are hooks (Config.Volumes, Config.Env; hooks.go) a real node sets
//     (internal/agent/cri wires internal/agent/volumes and envvars);
//     without them containers get literal env values and no mounts, which
//     is all the simulated runtime needs. Volumes are set up before the
//     sandbox and each container start (a failure, e.g. an unbound claim,
//     is retried with back-off, the pod staying ContainerCreating), updated
//     on every sync of a running pod rather than on a separate timer, and
//     removed once the pod has left the node. Volumes of a pod deleted
//     while the agent was down are not found again (no orphan scan).
//   - DNS: as the kubelet's GetPodDNS, ClusterFirst pods get
//     Config.ClusterDNS, "<ns>.svc.<domain> svc.<domain> <domain>" plus
//     the host's search domains, and ndots:5; without ClusterDNS they fall
//     back to Default, the host's resolv.conf (Config.ResolvConf). Pod
//     dnsConfig is merged in, None uses it alone. An empty ResolvConf
//     leaves the runtime's default where the kubelet would write
//     127.0.0.1.
//   - No eviction under node pressure, no graceful node shutdown, no
//     static pods, no in-place resize; container statuses carry no
//     resources, volumeMounts or user.
//   - Status is written with UpdateStatus (optimistic concurrency, the
//     status recomputed on conflict) rather than a strategic merge patch.
//   - A Node deleted under a live agent is registered again.
//   - Pod events (Pulled, Created, Started, Killing, BackOff) are recorded
//     only when Config.Recorder is set.
package agent
