// Package netnstest gives network tests throwaway named network
// namespaces, so that bridges, routes, addresses, sysctls and iptables or
// nftables rules a test makes live and die with namespaces it created and
// never touch the machine's own network. It is for tests only; they need
// root and skip without it.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// NetNS is a named network namespace a test created.
type NetNS struct {
	Name   string
	Handle netns.NsHandle
}

// Path is the namespace's bind mount, as CNI's RuntimeConf.NetNS and
// containerd take it.
func (n *NetNS) Path() string { return filepath.Join("/var/run/netns", n.Name) }

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
}

// New creates a named namespace ("skt-<prefix>-<random>", short enough
// for interface-name-sized uses) and deletes it when the test ends, which
// also removes every interface and rule inside it.
func New(t testing.TB, prefix string) *NetNS {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("skt-%s-%s", prefix, hex.EncodeToString(b[:]))
	var h netns.NsHandle
	err := onLockedThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		// NewNamed moves the calling thread into the new namespace.
		h, err = netns.NewNamed(name)
		if err != nil {
			return err
		}
		return netns.Set(orig)
	})
	if err != nil {
		t.Fatalf("creating network namespace %s: %v", name, err)
	}
	n := &NetNS{Name: name, Handle: h}
	t.Cleanup(func() {
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("deleting network namespace %s: %v", name, err)
		}
	})
	return n
}

// Do runs fn on an OS thread inside the namespace. Sockets fn opens stay
// in the namespace after it returns, and processes fn starts (os/exec
// forks from the calling thread) run in it, which is how CNI plugins are
// run "on the node" of a test.
func (n *NetNS) Do(fn func() error) error {
	return onLockedThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(n.Handle); err != nil {
			return fmt.Errorf("entering %s: %w", n.Name, err)
		}
		fnErr := fn()
		if err := netns.Set(orig); err != nil {
			return fmt.Errorf("leaving %s: %w", n.Name, err)
		}
		return fnErr
	})
}

// onLockedThread runs fn on a goroutine locked to its thread. If fn
// fails to restore the thread's namespace the goroutine exits still
// locked, and the runtime then discards the thread rather than reuse it
// in the wrong namespace.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		if err == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
