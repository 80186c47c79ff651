// Package images names the test images Skiff builds locally (no registry
// is reachable in tests): `go run ./test/images/build DIR` (or `make
// images`) writes DIR/testserver.tar, DIR/busybox.tar and DIR/pause.tar,
// which `skiff image import` loads into a node's containerd. End-to-end
// tests use these references in pod specs.
package images

const (
	// TestServerRef runs test/images/testserver: HTTP on 8080, TCP echo on
	// 9000, files from /data.
	TestServerRef = "skiff.local/testserver:1"
	// BusyboxRef is Debian's static busybox with applet links in /bin;
	// its default command is sh.
	BusyboxRef = "skiff.local/busybox:1"
)
