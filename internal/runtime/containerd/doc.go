// Package containerd supervises the containerd a Skiff node runs its pods
// on: it writes a private config.toml (root, state and socket under the
// agent's data dir, the CRI plugin on, the host's cgroup driver, Skiff's
// locally built pause image as sandbox_image, CNI config and plugin paths),
// starts `containerd --config ...` as a child process, waits for its socket,
// restarts it with back-off when it dies, and stops it (SIGTERM, then
// SIGKILL after a grace period) when its context ends.
//
// # What it owns
//
// Only DATA_DIR/containerd (Config.Dir): config.toml, root/, state/, the
// socket, containerd.log and containerd.pid (so that a containerd left
// running by a SIGKILLed agent is stopped before a new one starts; it would
// otherwise hold the metadata database's lock). It must not touch a system containerd (/run/containerd,
// /var/lib/containerd), CNI configuration (another package writes
// Config.CNIConfDir) or images (imported by whoever builds them).
//
// # Differences from a packaged containerd
//
//   - It is a child of the agent, not a systemd unit: stopping the agent
//     stops containerd. Containers survive (their shims are reparented), as
//     they do when systemd restarts containerd, and the next containerd
//     adopts them from its state dir.
//   - The TCP streaming server listens on loopback only; exec, attach and
//     port-forward are not wired yet.
//   - restrict_oom_score_adj is on: the sandbox's oom_score_adj (-998) is
//     clamped to containerd's own, because hosts without CAP_SYS_RESOURCE
//     (VMs, nested containers) refuse to lower it and runc then fails
//     every sandbox. Upstream nodes run containerd at -999 instead.
//   - CNI network namespaces are mounted under the state dir, not
//     /var/run/netns, so two instances (tests) never share a path.
package containerd
