// Command skiff is the one Skiff binary: `skiff server` runs a control plane,
// `skiff kubectl` is upstream kubectl pointed at it, `skiff version` says
// what was built. Installed as (or symlinked to) "kubectl", it is kubectl.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiff-sh/skiff/internal/version"
)

func main() {
	// Before anything prints a version: the linked-in kubectl reads it
	// from k8s.io/component-base.
	version.SetComponentBase()

	if filepath.Base(os.Args[0]) == "kubectl" {
		runKubectl(os.Args[1:])
		return
	}
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "skiff:", err)
		os.Exit(1)
	}
}
