// Package critest sets up a real CRI node for tests that run pods as root:
// it skips a test whose machine lacks root, containerd, runc, ctr or the
// CNI bridge plugin; starts Skiff's own containerd
// (internal/runtime/containerd) under the supervisor in a short temp dir
// with a bridge network of the test's own; imports the images test/images
// builds; connects a cri.Runtime; or runs a whole cri.RunNode until Ready.
// Everything it starts is stopped, and everything it creates removed, by
// t.Cleanup, also when the test fails.
//
// # What it owns
//
// Only what it creates for one test: the temp dir, the bridge named after
// the prefix the caller passes and the test binary's PID (so two test
// packages running at once never share one), the supervised containerd
// and the sandboxes of the runtimes it hands out.
//
// # What it must not touch
//
// A system containerd, /etc/cni, the host's network beyond the bridge it
// names (the CNI config has no gateway and no masquerading), and processes
// it did not start. A CRI-less containerd that only imports images is
// internal/image/containerdtest's concern, not this package's.
//
// # Differences from upstream
//
// Upstream's node e2e suites run against a separately installed
// containerd and kubelet; here the containerd is a child of the test
// process, which is what `skiff agent` does too.
package critest
