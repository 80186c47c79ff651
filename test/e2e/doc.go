// Package e2e holds black-box tests of the built skiff binary: each test
// starts `skiff server` on a free port and a temporary data directory and
// drives it with `skiff kubectl` and client-go, as a user would.
package e2e
