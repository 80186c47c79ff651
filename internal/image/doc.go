// Package image builds container images locally and loads them into a
// node's containerd. Nothing is pulled: Skiff nodes reach no registry, so
// every image a pod runs is built from Skiff's own code.
//
// What it owns:
//   - Build: a one-layer image from a list of files (path, mode, content,
//     symlinks) plus entrypoint, cmd, env, working dir, user, labels and
//     exposed ports, written as a docker-archive tarball (manifest.json,
//     config, layer), the format `ctr images import` and `docker load`
//     read. It uses go-containerregistry (empty, mutate, tarball).
//   - Determinism: every timestamp is Epoch, owners are root, entries are
//     sorted and parents added, so the same Spec always gives the same
//     bytes and digest. Re-importing an unchanged image is then a no-op,
//     which is what lets the agent load the pause image on every start.
//   - Pause and PauseRef: the sandbox image, and Ctr (Import, List,
//     LoadPause), which drives containerd through Debian's ctr client in
//     the k8s.io namespace the CRI plugin uses.
//
// It must not touch containerd's configuration or lifecycle (that is
// internal/runtime/containerd) nor talk CRI (internal/agent/cri).
//
// # The pause program
//
// Upstream's pause is a ~40-line static C program: handlers for SIGINT and
// SIGTERM that exit 0, a SIGCHLD handler that reaps zombies, then pause()
// forever. The handlers are essential, not cosmetic: the kernel discards
// default-action signals sent to a PID namespace's init, so a pause without
// them ignores SIGTERM. Our sandbox image must be loadable at agent start
// with no network and no Go toolchain, and nothing prebuilt may be
// committed. The options were:
//
//   - compile a Go pause at image build time: needs the toolchain on the
//     node, ruled out;
//   - make the running skiff binary the pause program (`skiff pause`):
//     works, but the sandbox image becomes ~100 MB, every agent start
//     hashes and compresses it, and Skiff is built with cgo so the image
//     would also need the host's libc and dynamic loader;
//   - assemble the program directly (chosen): pauseAMD64 emits the same
//     logic as upstream's pause.c as x86-64 machine code (rt_sigaction
//     with SA_RESTORER, pause, wait4 with WNOHANG, exit_group) in a
//     minimal static ELF of about 400 bytes, produced from Go source at
//     run time. The image is a few KB and builds in microseconds.
//
// The cost is that it is per architecture: only linux/amd64 exists today;
// PauseBinary returns an error elsewhere rather than a wrong binary (an
// arm64 port is the same ~25 instructions). The tests run the program as
// a process (signals, reaping) and as a container in a real containerd.
//
// Differences from upstream: the pause binary does not print on signals
// and has no -v flag; images are docker-archive, not OCI layout (ctr
// imports both; docker-archive carries the tag in manifest.json, so no
// --base-name is needed); the image has one layer and no history beyond a
// single entry.
package image
