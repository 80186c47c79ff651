// Package simulated is a container runtime that runs nothing, like kwok:
// simulated nodes register, heartbeat and take pods through the real agent
// core (package agent), so the control plane can be tested and benchmarked
// at thousands of pods without root or containers.
//
// It owns the Runtime (an in-memory sandbox and container table), a Prober
// that reads readiness from annotations, and Run, which runs many simulated
// nodes in one process on one client and one pod watch. It must not
// duplicate agent logic: restart policy, back-off, status and deletion are
// the agent's; this package only decides what a "container" does.
//
// # What simulated pods do
//
// A bound pod gets a sandbox with an IP from its node's pod CIDR (or, until
// the control plane assigns one, from the node's fallback range
// 10.244.N.0/24, see PodCIDRFor), derived from the pod UID. Its containers
// start at once, report the image "pulled" with a digest derived from its
// name, and are started and ready at once. Regular init containers complete
// at once with exit code 0. Stopping a container is instant whatever the
// grace period; it exits with code 0, as a process that handles SIGTERM
// does.
//
// Pod annotations script the rest (the values are read when the pod's
// sandbox is created, except readiness, which is read on every sync):
//
//	sim.skiff.dev/run-duration: "2s"  containers exit after running 2s
//	sim.skiff.dev/exit-code: "1"      ... with this code (default 0); set
//	                                  alone, containers exit at once
//	sim.skiff.dev/ready: "false"      containers never become ready
//	sim.skiff.dev/ready-after: "5s"   containers become ready 5s after start
//	sim.skiff.dev/pull-error: "denied" image pulls fail with this message
//	                                  (every image counts as present, so
//	                                  only imagePullPolicy Always pulls)
//
// Each key also exists per container, by appending "." and the container
// name ("sim.skiff.dev/exit-code.worker: "3""); a per-container value wins
// over the pod-wide one. Pod-wide values apply to regular containers and
// sidecars; regular init containers follow only their per-container values.
// Values that do not parse are ignored. The restart policy decides what
// happens after an exit, exactly as on a real node:
//
//   - a Job's pod (restartPolicy Never or OnFailure) annotated with
//     exit-code "0" and run-duration "10s" runs 10s and Succeeds;
//   - with exit-code "1" and restartPolicy Never it Fails;
//   - a Deployment's pod (restartPolicy Always) with run-duration "30s"
//     restarts every 30s, with CrashLoopBackOff delays and a rising
//     restartCount;
//   - ready "false" keeps a pod out of its Services' endpoints for ever,
//     ready-after delays it (for minReadySeconds and rollout tests).
//
// Probes in the pod spec are not run: nothing listens in a simulated
// container.
//
// # Nodes
//
// Run(ctx, Config{RESTConfig, Nodes: N}) registers N nodes named
// skiff-sim-0 ... skiff-sim-(N-1), labelled node.skiff.dev/simulated=true,
// each with 32 CPUs, 256Gi of memory, 110 pods and 100Gi of ephemeral
// storage by default, InternalIP 10.240.x.y (see NodeIPFor), and
// containerRuntimeVersion "simulated://1.0". They share one protobuf
// client and one watch on bound pods; each has its own Lease, node status
// loop and pod workers. A restarted process adopts its nodes' pods from
// their API status (Runtime.Restore): running pods keep running with the
// same IPs, container IDs and start times.
package simulated
