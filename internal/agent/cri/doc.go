// Package cri implements agent.Runtime over a CRI endpoint (containerd's,
// typically supervised by internal/runtime/containerd) with k8s.io/cri-client:
// sandboxes, containers and images are created, listed and removed through
// the RuntimeService and ImageService gRPC APIs, as the kubelet's
// kuberuntime manager does.
//
// RunNode assembles a whole node: it prepares the CNI directories, starts
// containerd under the data dir (internal/runtime/containerd) unless given
// an endpoint, imports the pause image (internal/image), and runs the agent
// on this runtime with the machine's capacity (NodeCapacity) and address.
// When the control plane assigns the node's pod CIDR, the agent's
// UpdatePodCIDR writes the CNI configuration (internal/network/cni), which
// containerd picks up; until then only hostNetwork pods can start (the
// agent polls its Node for the CIDR every 200ms until it has one, as the
// kubelet's fast status update does).
//
// RunNode also runs an informer factory for the ConfigMaps, Secrets,
// Services, claims and volumes pods refer to, behind the agent's Volumes
// (internal/agent/volumes) and Env (internal/agent/envvars) hooks; the
// local-path provisioner's NodeCleaner (internal/controller/localprovisioner)
// for this node; and, given NodeConfig.ClusterCIDRs and ServiceCIDRs, the
// node's routes for them and forwarding sysctls (internal/network/routes),
// removed when it stops, and the pod egress masquerade table
// (internal/network/masquerade) once the pod CIDR is known.
//
// The node's data paths run beside the agent: the kubelet API
// (internal/agent/kubeletserver), the service proxy (internal/proxy,
// serviceproxy.go), cluster DNS on the pod gateway with its kube-dns
// Service and EndpointSlice (internal/dns, clusterdns.go) and the Ingress
// controller (internal/ingress, nodeservices.go). The proxy and the Ingress
// are the agent's TerminationGate (dataPaths in serviceproxy.go): a deleted
// pod's containers are signalled only once neither routes to it. ClusterFirst
// pods get the cluster DNS resolv.conf; Default pods the host's
// (/run/systemd/resolve/resolv.conf when systemd-resolved runs).
//
// # What it owns
//
// The pod log directories under Config.LogDir (DATA_DIR/pods-logs, the
// kubelet's /var/log/pods): <namespace>_<name>_<uid>/<container>/<attempt>.log.
// It must not touch containers or sandboxes it did not label as its own
// (the kubelet's io.kubernetes.* labels), or CNI configuration. Images are
// pulled when the agent asks (it applies imagePullPolicy and pull secrets,
// internal/agent/images.go) and removed only by the image garbage
// collector (internal/agent/imagegc), through ListImages, RemoveImage,
// ImageFsStats and ImagesInUse.
//
// # Differences from the kubelet
//
//   - No per-pod or QoS cgroups: with the cgroupfs driver containers go
//     where containerd puts them by default; with systemd under
//     system.slice. Per-container limits (CPU shares and quota, memory)
//     still apply.
//   - Registries are reached as containerd's CRI plugin reaches them
//     without a registry config_path: HTTPS, except localhost, 127.0.0.1
//     and ::1 (any port), which it speaks plain HTTP to. Tests serve an
//     OCI registry on 127.0.0.1 (registry_test.go); nothing else is ever
//     contacted unless a pod names it.
//   - WatchEvents relists every second (the generic PLEG) rather than
//     using GetContainerEvents, which containerd 1.6 lacks.
//   - Seccomp stays Unconfined and AppArmor the runtime default, as with
//     the kubelet's default seccompDefault=false.
package cri
