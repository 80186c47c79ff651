//go:build !unix

package pki

// lockDir is a no-op where flock is unavailable; the server runs on Linux,
// other platforms build for `skiff kubectl` only.
func lockDir(string) (func(), error) { return func() {}, nil }
