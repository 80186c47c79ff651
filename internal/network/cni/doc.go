// Package cni writes the node's CNI configuration: the one network list
// the container runtime (containerd's CRI plugin, which runs the plugins
// itself) uses to give every pod sandbox its interface and IP. It is
// Skiff's stand-in for what kubenet, or k3s's flannel, set up upstream.
//
// The list (ConfList) is the standard plugins from Debian's
// containernetworking-plugins, in BinDir: bridge BridgeName as the pods'
// gateway with ipMasq and hairpin mode, host-local IPAM over the node's
// pod CIDR(s) with its state under the agent's data dir (IPAMDataDir),
// and portmap with the portMappings capability for hostPorts. containerd
// runs loopback for each pod's lo on its own, so it is required in
// BinDir but not listed.
//
// What it owns: the file ConfPath(dataDir) in ConfDir(dataDir), and the
// host-local directory. The runtime's configuration must point at the
// same places: conf_dir = ConfDir(dataDir), bin_dir = BinDir(). Write is
// called with the node's spec.podCIDRs (comma-joined, as the kubelet
// passes them to CRI's UpdateRuntimeConfig) whenever they change; it
// replaces the file atomically and only when its content changes, since
// containerd reloads on every change of the directory.
//
// It must not touch anything else: the bridge, veths, addresses and
// iptables rules are made by the plugins when the runtime runs them, and
// node routes and sysctls belong to package routes.
//
// Differences from upstream: upstream's kubelet has no CNI configuration
// of its own (kubenet is gone; a network add-on writes it). Pod traffic
// to anywhere outside the node's own pod CIDR is masqueraded by the
// bridge plugin's ipMasq, including traffic to other nodes' pods, which
// therefore see the node's address rather than the pod's; a
// cluster-CIDR-aware masquerade rule belongs with the service proxy.
package cni
